// SPDX-License-Identifier: MIT
// check_widget.mjs: the drop-in widget /ahead-autocomplete.js on another
// site's page, in a real browser. A page served by this test from another
// origin (its own port) imports the module from the real ahead-serve and
// makes two inputs comboboxes at once: one in the page with the default
// look, one inside a shadow root with a renderer of its own, another
// index, and a request header that makes the browser send a CORS preflight.
// For both it holds what is shown to the API's answer keystroke by
// keystroke (texts and highlights), then checks the keyboard and the mouse
// (and the select events), that one widget never shows the other's answers,
// that a hostile completion stays text, that fast typing shows the last
// answer, the error message of a 400, that the preflight happened, that
// the module is small (gzipped) and is served with an ETag and CORS, and
// that no console error occurred.
import puppeteer from "puppeteer-core";
import { createServer } from "node:http";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildSnapshot, check, env, scratch, startServer } from "./server.mjs";

const HOSTILE = '<img src=x onerror="window.__pwned=1">payload';
const dir = scratch();
const snap = buildSnapshot(dir, "widget", [`${HOSTILE}\t900000`, "Straße\t50000", "new york city\t30000"]);
const second = buildSnapshot(dir, "second", ["zebra crossing\t7000000", "zeppelin\t5000000"]);
const accessLog = join(dir, "access.log");
const server = await startServer(
  ["--index", "default=" + snap, "--index", "second=" + second, "--access-log", accessLog],
  dir
);

// The module: small, cacheable, loadable from any origin.
const source = readFileSync(join(env("AH_SOURCE_DIR"), "server", "ui", "ahead-autocomplete.js"));
const gzipped = gzipSync(source, { level: 9 }).length;
check(gzipped < 8192, `ahead-autocomplete.js is ${gzipped} bytes gzipped, over 8 KB`);
const served = await fetch(server.url + "/ahead-autocomplete.js", { headers: { Origin: "http://elsewhere.example" } });
check(served.ok && /javascript/.test(served.headers.get("content-type")), "served as JavaScript");
check(served.headers.get("access-control-allow-origin") === "*", "served with CORS");
check(/^"[0-9a-f]{16}"$/.test(served.headers.get("etag") || ""), "served with an ETag");
check((await served.text()) === source.toString(), "served as it is in the source tree");

// The other site: a page on its own origin that uses the widget twice.
const page_html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>a shop</title>
<style>body { font-family: sans-serif; } .custom { font-weight: 700; } #host { display: block; margin-top: 440px; }</style></head>
<body>
<form autocomplete="off" onsubmit="return false">
  <label for="one">Products</label> <input id="one" type="text">
</form>
<div id="host"></div>
<script type="module">
  import { autocomplete } from "${server.url}/ahead-autocomplete.js";
  window.__selected = [];
  window.__answers = { one: 0, two: 0 };
  const one = document.getElementById("one");
  autocomplete(one, { server: "${server.url}", onAnswer: () => window.__answers.one++ });
  one.addEventListener("ahead-select", (e) => window.__selected.push(["one", e.detail.item.text]));
  const shadow = document.getElementById("host").attachShadow({ mode: "open" });
  shadow.innerHTML = '<label for="two">Places</label> <input id="two" type="text">';
  const two = shadow.getElementById("two");
  autocomplete(two, {
    server: "${server.url}",
    index: "second",
    k: 5,
    headers: { "Content-Type": "application/json" },
    render(item, parts) {
      const frag = document.createDocumentFragment();
      const text = document.createElement("span");
      text.className = "ahead-text";
      text.append(parts.highlighted());
      const score = document.createElement("b");
      score.className = "custom";
      score.textContent = String(item.score);
      frag.append(text, score);
      return frag;
    },
    onSelect: (item) => window.__selected.push(["two", item.text]),
    onAnswer: () => window.__answers.two++,
  });
  window.__ready = true;
</script>
</body></html>`;
const site = createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(page_html);
});
await new Promise((r) => site.listen(0, "127.0.0.1", r));
const siteUrl = `http://127.0.0.1:${site.address().port}/`;
check(new URL(siteUrl).origin !== new URL(server.url).origin, "the page is on another origin");

async function api(q, index = "default", k = 10) {
  const r = await fetch(`${server.url}/v1/indexes/${index}/complete?k=${k}&q=${encodeURIComponent(q)}`);
  return r.json();
}
const marked = (s) => s.spans.map(([a, b]) => Array.from(s.text).slice(a, b).join(""));

const browser = await puppeteer.launch({
  executablePath: process.env.AH_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  const page = await browser.newPage();
  const errors = [];
  let expectErrors = false;
  page.on("console", (m) => {
    if (m.type() === "error" && !expectErrors) errors.push("console: " + m.text());
  });
  page.on("pageerror", (e) => errors.push("page error: " + e.message));
  await page.setViewport({ width: 900, height: 700 });
  await page.goto(siteUrl, { waitUntil: "networkidle0" });
  await page.waitForFunction(() => window.__ready === true, { timeout: 10000 });

  // Each widget's input and list, the second inside the shadow root.
  const inputOf = { one: await page.$("#one"), two: await page.evaluateHandle(() => document.getElementById("host").shadowRoot.getElementById("two")) };
  // What a widget shows: each option's text, marks, custom parts, and <img> count.
  const shown = (which) =>
    page.evaluate((which) => {
      const root = which === "one" ? document : document.getElementById("host").shadowRoot;
      const input = root.getElementById(which);
      const list = root.getElementById(input.getAttribute("aria-controls"));
      return {
        role: input.getAttribute("role"),
        expanded: input.getAttribute("aria-expanded"),
        hidden: list.hidden,
        listRole: list.getAttribute("role"),
        options: Array.from(list.querySelectorAll("li[role=option]")).map((li) => ({
          text: li.querySelector(".ahead-text").textContent,
          marks: Array.from(li.querySelectorAll("mark")).map((m) => m.textContent),
          custom: li.querySelector(".custom") ? li.querySelector(".custom").textContent : null,
          imgs: li.querySelectorAll("img").length,
        })),
      };
    }, which);
  async function expectShown(which, q) {
    const index = which === "one" ? "default" : "second";
    const want = await api(q, index, which === "one" ? 10 : 5);
    const expected = want.suggestions.map((s) => ({ text: s.text, marks: marked(s) }));
    try {
      await page.waitForFunction(
        (which, want) => {
          const root = which === "one" ? document : document.getElementById("host").shadowRoot;
          const input = root.getElementById(which);
          const lis = Array.from(root.getElementById(input.getAttribute("aria-controls")).querySelectorAll("li[role=option]"));
          return lis.length === want.length && lis.every((li, i) =>
            li.querySelector(".ahead-text").textContent === want[i].text &&
            JSON.stringify(Array.from(li.querySelectorAll("mark")).map((m) => m.textContent)) === JSON.stringify(want[i].marks));
        },
        { timeout: 5000 },
        which,
        expected
      );
    } catch {
      throw new Error(`${which}: for '${q}' it shows ${JSON.stringify((await shown(which)).options)}, the API ` +
        `${JSON.stringify(expected)}; console: ${errors.join("; ")}`);
    }
    return want.suggestions;
  }

  // Both wired as comboboxes, each controlling its own listbox.
  for (const which of ["one", "two"]) {
    const s = await shown(which);
    check(s.role === "combobox" && s.listRole === "listbox" && s.expanded === "false", which + ": combobox wiring");
  }

  // Keystroke by keystroke in the page's input: the default look.
  await inputOf.one.click();
  let typed = "";
  for (const key of "new y") {
    await page.keyboard.type(key);
    typed += key;
    await expectShown("one", typed);
  }
  check((await shown("one")).expanded === "true", "one: expanded");
  const answersOne = await page.evaluate(() => window.__answers.one);

  // ... and in the shadow root's: the custom renderer, the other index, the preflighted requests.
  await inputOf.two.click();
  typed = "";
  for (const key of "zep") {
    await page.keyboard.type(key);
    typed += key;
    await expectShown("two", typed);
  }
  const two = await shown("two");
  const zep = await api("zep", "second", 5);
  check(two.options[0].custom === String(zep.suggestions[0].score), "two: the custom renderer's score: " + JSON.stringify(two.options[0]));
  check(two.options.every((o) => o.custom !== null), "two: every option rendered by the custom renderer");
  check((await page.evaluate(() => window.__answers.one)) === answersOne, "typing in two never asks for one");
  check((await shown("one")).hidden, "one's list closed when the focus left it");

  // Keyboard in two: down, down, up, Enter picks the first and fires the select event.
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("Enter");
  check((await inputOf.two.evaluate((e) => e.value)) === zep.suggestions[0].text, "two: Enter fills the input");
  check((await shown("two")).hidden, "two: Enter closes the list");
  // The mouse in one: a click on the second option picks it.
  await inputOf.one.click({ clickCount: 3 });
  await page.keyboard.type("th");
  const th = await expectShown("one", "th");
  const optionBox = await page.evaluate(() => {
    const list = document.getElementById(document.getElementById("one").getAttribute("aria-controls"));
    const r = list.querySelectorAll("li[role=option]")[1].getBoundingClientRect();
    return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
  });
  await page.mouse.click(optionBox.x, optionBox.y);
  check((await inputOf.one.evaluate((e) => e.value)) === th[1].text, "one: a click picks the option");
  const selected = await page.evaluate(() => window.__selected);
  check(JSON.stringify(selected) === JSON.stringify([["two", zep.suggestions[0].text], ["one", th[1].text]]),
    "select events: " + JSON.stringify(selected));

  // A hostile completion is text, never markup.
  await inputOf.one.click({ clickCount: 3 });
  await page.keyboard.type("<img");
  await expectShown("one", "<img");
  const hostile = (await shown("one")).options[0];
  check(hostile.text === HOSTILE && hostile.imgs === 0, "the hostile completion is shown literally");
  check((await page.evaluate(() => window.__pwned)) === undefined, "its onerror never ran");

  // Fast typing: the last answer wins.
  await inputOf.one.click({ clickCount: 3 });
  for (const key of "wonderful") await page.keyboard.press(key);
  await expectShown("one", "wonderful");
  await new Promise((r) => setTimeout(r, 300));
  await expectShown("one", "wonderful");
  check(errors.length === 0, "console errors: " + errors.join("; "));

  // A 400: the widget's status says what the server said.
  expectErrors = true;
  await inputOf.one.evaluate((e) => {
    e.value = "x".repeat(2000);
    e.dispatchEvent(new Event("input"));
  });
  await page.waitForFunction(() => /server said/.test(document.querySelector(".ahead-status").textContent), { timeout: 5000 });
  const status = await page.$eval(".ahead-status", (e) => ({ text: e.textContent, error: e.classList.contains("ahead-error") }));
  check(status.error && /longer than/.test(status.text), "the 400's message: " + status.text);
  check(errors.length === 0, "page errors: " + errors.join("; "));

  // The preflights of two's requests reached the server and were answered.
  await new Promise((r) => setTimeout(r, 200));
  const log = readFileSync(accessLog, "utf8");
  check(/OPTIONS \S*\/v1\/indexes\/second\/complete\S* \S+ 204/.test(log) || /"OPTIONS[^"]*second[^"]*" 204/.test(log) ||
    log.split("\n").some((l) => l.includes("OPTIONS") && l.includes("second") && l.includes("204")),
    "no answered preflight in the access log:\n" + log.split("\n").filter((l) => l.includes("OPTIONS")).slice(0, 3).join("\n"));
  await page.screenshot({ path: join(process.env.AH_SCREENSHOT_DIR || dir, "widget.png") });
  console.log(`check_widget: two widgets on another origin (one in a shadow root) work; ${gzipped} bytes gzipped`);
} catch (e) {
  failed = true;
  console.error(e.stack || String(e));
} finally {
  await browser.close();
  site.close();
  await server.stop().catch(() => {});
}
process.exit(failed ? 1 : 0);
