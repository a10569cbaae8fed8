// SPDX-License-Identifier: MIT
// app.js: the search box at / (see index.html). Each keystroke asks the API
// for the current input; the request for an older input is aborted, and an
// answer that arrives for anything but the latest request is dropped, so a
// slow answer never replaces a newer one. There is no debounce: the server
// answers in microseconds. Suggestions are inserted as text, never as HTML,
// and highlighted from the answer's spans (code points of the text).
// Keyboard as the WAI-ARIA 1.2 combobox pattern says: ArrowDown/ArrowUp move
// through the listbox (aria-activedescendant), Enter picks, Escape closes
// (and clears when already closed); the mouse picks too.
"use strict";

(() => {
  const input = document.getElementById("q");
  const listbox = document.getElementById("listbox");
  const status = document.getElementById("status");
  const meta = document.getElementById("meta");
  const picker = document.getElementById("picker");
  const select = document.getElementById("index");

  let index = "default"; // the index asked
  let items = []; // the suggestions shown
  let active = -1; // the one the keyboard or the pointer is on
  let inflight = null; // the AbortController of the latest request
  let seq = 0; // requests sent; only the answer to the latest is shown

  function setStatus(text, error) {
    status.textContent = text;
    status.classList.toggle("error", !!error);
  }

  function setActive(i) {
    const old = listbox.children[active];
    if (old) old.setAttribute("aria-selected", "false");
    active = i;
    const now = listbox.children[active];
    if (now) {
      now.setAttribute("aria-selected", "true");
      input.setAttribute("aria-activedescendant", now.id);
      now.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function open() {
    if (items.length === 0) return;
    listbox.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function close() {
    setActive(-1);
    listbox.hidden = true;
    input.setAttribute("aria-expanded", "false");
  }

  // The text with the code points of each [start, end) span in a <mark>.
  function highlighted(text, spans) {
    const frag = document.createDocumentFragment();
    const cps = Array.from(text);
    let at = 0;
    const sorted = (spans || []).slice().sort((a, b) => a[0] - b[0]);
    for (const [start, end] of sorted) {
      const a = Math.max(at, Math.min(start, cps.length));
      const b = Math.max(a, Math.min(end, cps.length));
      if (a > at) frag.append(cps.slice(at, a).join(""));
      if (b > a) {
        const mark = document.createElement("mark");
        mark.textContent = cps.slice(a, b).join("");
        frag.append(mark);
      }
      at = b;
    }
    if (at < cps.length) frag.append(cps.slice(at).join(""));
    return frag;
  }

  function show(body, timing) {
    items = body.suggestions || [];
    active = -1;
    input.removeAttribute("aria-activedescendant");
    listbox.replaceChildren(
      ...items.map((s, i) => {
        const li = document.createElement("li");
        li.id = "option-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        const text = document.createElement("span");
        text.className = "text";
        text.append(highlighted(s.text, s.spans));
        li.append(text);
        if (s.typos > 0) {
          const badge = document.createElement("span");
          badge.className = "badge";
          badge.textContent = s.typos === 1 ? "1 typo" : s.typos + " typos";
          li.append(badge);
        }
        return li;
      })
    );
    if (items.length > 0) {
      open();
      setStatus("");
    } else {
      close();
      setStatus(input.value ? "No matches." : "");
    }
    const served = /dur=([0-9.]+)/.exec(timing || "");
    meta.textContent =
      "snapshot " + body.snapshot +
      (served ? " · " + Number(served[1]).toFixed(3) + " ms on the server" : "") +
      " · " + items.length + (items.length === 1 ? " suggestion" : " suggestions") +
      (body.complete === false ? " (the typo search stopped early)" : "");
  }

  function errorText(r, body) {
    if (body && body.error && body.error.message) return "The server said: " + body.error.message;
    return "The server answered " + r.status + ".";
  }

  async function ask(q) {
    if (inflight) inflight.abort();
    const ctrl = new AbortController();
    inflight = ctrl;
    const mine = ++seq;
    let r, body;
    try {
      r = await fetch(
        "/v1/indexes/" + encodeURIComponent(index) + "/complete?k=10&q=" + encodeURIComponent(q),
        { signal: ctrl.signal, headers: { Accept: "application/json" } }
      );
      body = await r.json().catch(() => null);
    } catch (e) {
      if (ctrl.signal.aborted || mine !== seq) return; // a newer keystroke took over
      close();
      setStatus("The server is unreachable. Is ahead-serve running?", true);
      return;
    }
    if (mine !== seq) return;
    inflight = null;
    if (!r.ok || !body) {
      items = [];
      listbox.replaceChildren();
      close();
      setStatus(errorText(r, body), true);
      return;
    }
    show(body, r.headers.get("server-timing"));
  }

  function pick(i) {
    if (i < 0 || i >= items.length) return;
    input.value = items[i].text;
    close();
    input.focus();
  }

  input.addEventListener("input", () => ask(input.value));
  input.addEventListener("focus", () => {
    if (items.length === 0 && input.value === "") ask("");
    else open();
  });
  input.addEventListener("blur", () => close());
  input.addEventListener("keydown", (e) => {
    const n = items.length;
    switch (e.key) {
      case "ArrowDown":
        if (n === 0) return;
        e.preventDefault();
        open();
        setActive(active + 1 < n ? active + 1 : 0);
        break;
      case "ArrowUp":
        if (n === 0) return;
        e.preventDefault();
        open();
        setActive(active > 0 ? active - 1 : n - 1);
        break;
      case "Enter":
        if (!listbox.hidden && active >= 0) {
          e.preventDefault();
          pick(active);
        }
        break;
      case "Escape":
        e.preventDefault();
        if (!listbox.hidden) {
          close();
        } else {
          input.value = "";
          ask("");
        }
        break;
      case "Tab":
        close();
        break;
    }
  });
  // The pointer: pressing an option must not take the focus from the input.
  listbox.addEventListener("mousedown", (e) => e.preventDefault());
  listbox.addEventListener("click", (e) => {
    const li = e.target.closest("li[role=option]");
    if (li) pick(Array.prototype.indexOf.call(listbox.children, li));
  });
  listbox.addEventListener("mousemove", (e) => {
    const li = e.target.closest("li[role=option]");
    const i = li ? Array.prototype.indexOf.call(listbox.children, li) : -1;
    if (i >= 0 && i !== active) setActive(i);
  });
  document.getElementById("box").addEventListener("submit", (e) => e.preventDefault());

  // More than one index: a picker.
  select.addEventListener("change", () => {
    index = select.value;
    ask(input.value);
  });
  fetch("/v1/indexes", { headers: { Accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : null))
    .then((body) => {
      const names = body && Array.isArray(body.indexes) ? body.indexes.map((x) => x.name) : [];
      if (names.length === 0) return;
      if (!names.includes(index)) {
        index = names[0]; // no index named "default": ask the first, again if asked already
        if (seq > 0) ask(input.value);
      }
      if (names.length > 1) {
        select.replaceChildren(
          ...names.map((name) => {
            const o = document.createElement("option");
            o.value = name;
            o.textContent = name;
            return o;
          })
        );
        select.value = index;
        picker.hidden = false;
      }
    })
    .catch(() => {});
})();
