// SPDX-License-Identifier: MIT
// app.js: the search box at / (see index.html), built on the drop-in widget
// ahead-autocomplete.js like any other page would be: the widget makes the
// input a combobox that asks the API at each keystroke; this page adds the
// small print under it (snapshot id, time on the server, count) and, when
// the server has more than one index, a picker; when the index picked has
// contexts (GET /v1/indexes/NAME/contexts), a second picker asks within one.
import { autocomplete } from "/ahead-autocomplete.js";

const input = document.getElementById("q");
const meta = document.getElementById("meta");
const picker = document.getElementById("picker");
const select = document.getElementById("index");
const contextPicker = document.getElementById("context-picker");
const contextSelect = document.getElementById("context");

const box = autocomplete(input, {
  status: document.getElementById("status"),
  onAnswer({ body, timing }) {
    const items = body.suggestions || [];
    const served = /dur=([0-9.]+)/.exec(timing || "");
    meta.textContent =
      "snapshot " + body.snapshot +
      (served ? " · " + Number(served[1]).toFixed(3) + " ms on the server" : "") +
      " · " + items.length + (items.length === 1 ? " suggestion" : " suggestions") +
      (body.complete === false ? " (the typo search stopped early)" : "");
  },
});
document.getElementById("box").addEventListener("submit", (e) => e.preventDefault());

// The index's contexts, if it has any: "everything" first, then each value with its size.
function option(value, label) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  return o;
}
async function loadContexts(index, count) {
  box.options.context = "";
  contextPicker.hidden = true;
  if (!count) return;
  const r = await fetch("/v1/indexes/" + encodeURIComponent(index) + "/contexts", {
    headers: { Accept: "application/json" },
  });
  const body = r.ok ? await r.json() : null;
  if (!body || !Array.isArray(body.contexts) || box.options.index !== index) return;
  contextSelect.replaceChildren(
    option("", "everything"),
    ...body.contexts.map((c) => option(c.value, c.value + " (" + c.entries + ")"))
  );
  contextSelect.value = "";
  contextPicker.hidden = false;
}
contextSelect.addEventListener("change", () => {
  box.options.context = contextSelect.value;
  box.refresh();
});

// More than one index: a picker.
let contextCounts = {};
select.addEventListener("change", () => {
  box.options.index = select.value;
  loadContexts(select.value, contextCounts[select.value]).catch(() => {});
  box.refresh();
});
fetch("/v1/indexes", { headers: { Accept: "application/json" } })
  .then((r) => (r.ok ? r.json() : null))
  .then((body) => {
    const names = body && Array.isArray(body.indexes) ? body.indexes.map((x) => x.name) : [];
    if (names.length === 0) return;
    contextCounts = Object.fromEntries(body.indexes.map((x) => [x.name, x.contexts || 0]));
    if (!names.includes(box.options.index)) {
      box.options.index = names[0]; // no index named "default": ask the first
      if (document.activeElement === input || input.value) box.refresh();
    }
    loadContexts(box.options.index, contextCounts[box.options.index]).catch(() => {});
    if (names.length > 1) {
      select.replaceChildren(
        ...names.map((name) => {
          const o = document.createElement("option");
          o.value = name;
          o.textContent = name;
          return o;
        })
      );
      select.value = box.options.index;
      picker.hidden = false;
    }
  })
  .catch(() => {});
