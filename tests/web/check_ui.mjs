// SPDX-License-Identifier: MIT
// check_ui.mjs: the search box at / in a real browser (Debian's chromium,
// driven by puppeteer-core), against the real ahead-serve on a free port,
// serving the shipped sample data plus a few lines this test adds. It types
// one key at a time and holds what the page shows to the API's answer for
// the same input: the suggestions, their order, and the highlighted
// characters; then the keyboard (ArrowDown/Up, Enter, Escape), the mouse,
// a hostile completion shown literally, the index and context pickers, fast typing (no
// stale answer may win), the messages for a 400 and an unreachable server,
// and a phone-sized screen. No console error may occur along the way. It
// saves screenshots to AH_SCREENSHOT_DIR (the build folder).
import puppeteer from "puppeteer-core";
import { join } from "node:path";
import { buildSnapshot, check, env, scratch, startServer } from "./server.mjs";

const HOSTILE = '<img src=x onerror="window.__pwned=1">payload';
const dir = scratch();
const snap = buildSnapshot(dir, "ui", [
  `${HOSTILE}\t900000`,
  "Straße\t50000",
  "café au lait\t40000",
  "new york city\t30000",
  "한국\t60000",
  "한국어\t20000",
  "학교\t30000",
  "하고\t1000",
]);
const second = buildSnapshot(dir, "second", [
  "zebra crossing\t7\tanimals,roads",
  "zeppelin\t5\tmachines",
  "zebu\t3\tanimals",
]);
const server = await startServer(["--index", "default=" + snap, "--index", "second=" + second], dir);
const shots = process.env.AH_SCREENSHOT_DIR || dir;

async function api(q, index = "default", context = "") {
  const within = context ? "&context=" + encodeURIComponent(context) : "";
  const r = await fetch(`${server.url}/v1/indexes/${index}/complete?k=10&q=${encodeURIComponent(q)}${within}`);
  return r.json();
}

// The text of each code point range the API says is matched.
const marked = (s) => s.spans.map(([a, b]) => Array.from(s.text).slice(a, b).join(""));

const browser = await puppeteer.launch({
  executablePath: process.env.AH_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let failed = false;
try {
  const page = await browser.newPage();
  const errors = [];
  let expectErrors = false; // while the test provokes a 400 or a dead server on purpose
  page.on("console", (m) => {
    if (m.type() === "error" && !expectErrors) errors.push("console: " + m.text());
  });
  page.on("pageerror", (e) => errors.push("page error: " + e.message));
  page.on("dialog", async (d) => {
    errors.push("dialog: " + d.message());
    await d.dismiss();
  });
  await page.setViewport({ width: 900, height: 640 });
  await page.goto(server.url + "/", { waitUntil: "networkidle0" });
  const input = await page.$("#q");
  check(input, "the page has the input #q");
  // The widget (ahead-autocomplete.js) made the list; its id is the input's aria-controls.
  const LB = await page.$eval("#q", (e) => e.getAttribute("aria-controls"));
  check(/^ahead-\d+-listbox$/.test(LB || ""), "the widget's listbox: " + LB);
  const OPTION = (i) => LB.replace(/-listbox$/, "-option-" + i);

  // ARIA: the combobox pattern's wiring.
  const aria = await page.$eval("#q", (e) => ({
    role: e.getAttribute("role"),
    controls: e.getAttribute("aria-controls"),
    expanded: e.getAttribute("aria-expanded"),
    autocomplete: e.getAttribute("aria-autocomplete"),
    label: e.labels && e.labels[0] ? e.labels[0].textContent : "",
    listRole: document.getElementById(e.getAttribute("aria-controls")).getAttribute("role"),
  }));
  check(aria.role === "combobox" && aria.listRole === "listbox", "combobox controls a listbox");
  check(aria.autocomplete === "list" && aria.expanded === "false", "aria-autocomplete, aria-expanded");
  check(aria.label.trim().length > 0, "the input has a label");

  // What the page shows: each option's text, and the text of its marks.
  const shown = () =>
    page.$$eval(`#${LB} li[role=option]`, (lis) =>
      lis.map((li) => ({
        text: li.querySelector(".ahead-text").textContent,
        marks: Array.from(li.querySelectorAll("mark")).map((m) => m.textContent),
        imgs: li.querySelectorAll("img").length,
      }))
    );
  // Waits until the page shows exactly the API's answer for q: its texts and
  // its highlights. An earlier prefix's answer can hold the same texts ("new
  // yor" and "new york ci" both give "new york city"), so the texts alone do
  // not tell which answer is on screen; the marks do.
  async function expectShown(q, index = "default", context = "") {
    const want = await api(q, index, context);
    const expected = want.suggestions.map((s) => ({ text: s.text, marks: marked(s) }));
    try {
      await page.waitForFunction(
        (want, lb) => {
          const lis = Array.from(document.querySelectorAll(`#${lb} li[role=option]`));
          return (
            lis.length === want.length &&
            lis.every((li, i) => {
              const marks = Array.from(li.querySelectorAll("mark")).map((m) => m.textContent);
              return (
                li.querySelector(".ahead-text").textContent === want[i].text &&
                JSON.stringify(marks) === JSON.stringify(want[i].marks)
              );
            })
          );
        },
        { timeout: 5000 },
        expected,
        LB
      );
    } catch {
      throw new Error(`for '${q}' the page shows ${JSON.stringify(await shown())}, the API ${JSON.stringify(expected)}`);
    }
    return want.suggestions;
  }

  // One key at a time: after every keystroke, the page shows that prefix's answer.
  await input.click();
  let typed = "";
  for (const key of "worl") {
    await page.keyboard.type(key);
    typed += key;
    await expectShown(typed);
  }
  check((await page.$eval("#q", (e) => e.getAttribute("aria-expanded"))) === "true", "expanded when shown");
  const meta = await page.$eval("#meta", (e) => e.textContent);
  check(/snapshot [0-9a-f]{16}/.test(meta) && /ms on the server/.test(meta), "small print: " + meta);
  await page.screenshot({ path: join(shots, "ui-desktop.png") });

  // Keyboard: down twice, up once, down again, Enter picks; Escape closes, then clears.
  await page.keyboard.press("Backspace");
  const list = await expectShown("wor");
  for (const key of ["ArrowDown", "ArrowDown", "ArrowUp", "ArrowDown"]) await page.keyboard.press(key);
  const active = await page.$eval("#q", (e) => e.getAttribute("aria-activedescendant"));
  check(active === OPTION(1), "aria-activedescendant after down, down, up, down: " + active);
  check((await page.$eval("#" + OPTION(1), (e) => e.getAttribute("aria-selected"))) === "true", "option 1 selected");
  await page.keyboard.press("Enter");
  check((await page.$eval("#q", (e) => e.value)) === list[1].text, "Enter fills the input");
  check(await page.$eval("#" + LB, (e) => e.hidden), "Enter closes the list");
  await page.keyboard.press("ArrowDown");
  check(!(await page.$eval("#" + LB, (e) => e.hidden)), "ArrowDown opens the list again");
  await page.keyboard.press("Escape");
  check(await page.$eval("#" + LB, (e) => e.hidden), "Escape closes the list");
  check((await page.$eval("#q", (e) => e.getAttribute("aria-expanded"))) === "false", "aria-expanded false");
  await page.keyboard.press("Escape");
  check((await page.$eval("#q", (e) => e.value)) === "", "a second Escape clears the input");

  // Non-ASCII highlights: code points of the display text ("strass" covers "Straß").
  await page.keyboard.type("strass");
  const straße = await expectShown("strass");
  check(straße[0].text === "Straße" && marked(straße[0])[0] === "Straß", "Straße highlights Straß");
  await page.click("#q", { clickCount: 3 });
  await page.keyboard.type("lait");
  const lait = await expectShown("lait");
  check(lait.some((s) => s.text === "café au lait" && marked(s)[0] === "lait"), "a word inside a phrase");

  // A typo, and its badge.
  await page.click("#q", { clickCount: 3 });
  await page.keyboard.type("wrold");
  const typo = await expectShown("wrold");
  check(typo.length > 0 && typo.every((s) => s.typos === 1), "wrold: one-typo matches");
  const badge = await page.$eval(`#${LB} li .ahead-badge`, (e) => e.textContent);
  check(badge === "1 typo", "the typo badge: " + badge);

  // A hostile completion is text, never markup.
  await page.click("#q", { clickCount: 3 });
  await page.keyboard.type("<img");
  const hostile = await expectShown("<img");
  check(hostile[0].text === HOSTILE, "the hostile completion is found");
  const first = (await shown())[0];
  check(first.text === HOSTILE && first.imgs === 0, "shown literally, no <img> element");
  check((await page.evaluate(() => window.__pwned)) === undefined, "its onerror never ran");

  // The mouse: a click on the second option picks it.
  await page.click("#q", { clickCount: 3 });
  await page.keyboard.type("th");
  const th = await expectShown("th");
  await page.click("#" + OPTION(1));
  check((await page.$eval("#q", (e) => e.value)) === th[1].text, "a click picks the option");

  // Fast typing: every keystroke without a pause; the last answer wins, never an older one.
  await page.click("#q", { clickCount: 3 });
  await page.keyboard.type("new york ci");
  await expectShown("new york ci");
  await page.click("#q", { clickCount: 3 });
  for (const key of "wonderful") await page.keyboard.press(key);
  await expectShown("wonderful");
  await new Promise((r) => setTimeout(r, 300)); // any late answer would arrive by now
  await expectShown("wonderful");

  // Korean through an input method: the composition's states, each answered as typed
  // (한ㄱ and 한구 find 한국; 학 finds 하고 too), with Enter committing, not picking.
  const cdp = await page.target().createCDPSession();
  await page.click("#q", { clickCount: 3 });
  await page.keyboard.press("Backspace");
  const compose = async (text) => {
    await cdp.send("Input.imeSetComposition", { text, selectionStart: text.length, selectionEnd: text.length });
  };
  for (const [composing, commit] of [[["ㅎ", "하", "한"], "한"], [["ㄱ", "구", "국"], "국"]]) {
    const before = await page.$eval("#q", (e) => e.value);
    for (const state of composing) {
      await compose(state);
      const value = await page.$eval("#q", (e) => e.value);
      check(value === before + state, `composing: the input holds ${value}, want ${before + state}`);
      const shownNow = await expectShown(value);
      if (value === "한구") check(shownNow[0].text === "한국", "한구 finds 한국 first: " + shownNow[0].text);
    }
    await cdp.send("Input.insertText", { text: commit });
  }
  check((await page.$eval("#q", (e) => e.value)) === "한국", "committed: 한국");
  await expectShown("한국");
  await page.click("#q", { clickCount: 3 });
  await page.keyboard.press("Backspace");
  await compose("ㅎ");
  await compose("하");
  await compose("학");
  const hak = await expectShown("학");
  check(hak.map((s) => s.text).join(",") === "학교,하고", "학 finds 학교 and 하고: " + hak.map((s) => s.text));
  await cdp.send("Input.insertText", { text: "학" });
  await page.click("#q", { clickCount: 3 });
  await page.keyboard.press("Backspace");
  await cdp.detach();

  // Two indexes: the picker shows, and asks the one picked.
  check(!(await page.$eval("#picker", (e) => e.hidden)), "the index picker shows");
  await page.select("#index", "second");
  await page.click("#q", { clickCount: 3 });
  await page.keyboard.type("ze");
  await expectShown("ze", "second");
  // Its contexts: a second picker, "everything" first, and the answers within the one picked.
  await page.waitForFunction(() => !document.getElementById("context-picker").hidden, { timeout: 5000 });
  const values = await page.$$eval("#context option", (os) => os.map((o) => o.value));
  check(JSON.stringify(values) === JSON.stringify(["", "animals", "machines", "roads"]), "the context picker: " + values);
  await page.select("#context", "animals");
  await expectShown("ze", "second", "animals");
  const within = (await api("ze", "second", "animals")).suggestions.map((s) => s.text);
  check(JSON.stringify(within) === JSON.stringify(["zebra crossing", "zebu"]), "within animals: " + within);
  await page.select("#context", "machines");
  await expectShown("ze", "second", "machines");
  await page.select("#context", "");
  await expectShown("ze", "second");
  await page.select("#index", "default");
  await page.waitForFunction(() => document.getElementById("context-picker").hidden, { timeout: 5000 });

  // A phone: nothing wider than the screen.
  await page.setViewport({ width: 390, height: 760, isMobile: true, hasTouch: true });
  await page.click("#q", { clickCount: 3 });
  await page.keyboard.type("wo");
  await expectShown("wo");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, "no horizontal scrolling on a phone: " + overflow + " px too wide");
  await page.screenshot({ path: join(shots, "ui-phone.png") });
  await page.setViewport({ width: 900, height: 640 });

  check(errors.length === 0, "console errors: " + errors.join("; "));

  // A 400 says what the server said; an unreachable server says so.
  expectErrors = true;
  await page.$eval("#q", (e) => {
    e.value = "x".repeat(2000);
    e.dispatchEvent(new Event("input"));
  });
  await page.waitForFunction(() => /server said/.test(document.getElementById("status").textContent), { timeout: 5000 });
  const said = await page.$eval("#status", (e) => ({ text: e.textContent, error: e.classList.contains("ahead-error") }));
  check(said.error && /longer than/.test(said.text), "the 400's message: " + said.text);
  await server.stop();
  await page.click("#q", { clickCount: 3 });
  await page.keyboard.type("a");
  await page.waitForFunction(() => /unreachable/.test(document.getElementById("status").textContent), { timeout: 5000 });
  check(errors.length === 0, "page errors: " + errors.join("; "));
  console.log("check_ui: the search box works: keystrokes, highlights, keyboard, mouse, picker, errors");
} catch (e) {
  failed = true;
  console.error(e.stack || String(e));
} finally {
  await browser.close();
  await server.stop().catch(() => {});
}
process.exit(failed ? 1 : 0);
