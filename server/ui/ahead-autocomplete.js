// SPDX-License-Identifier: MIT
// ahead-autocomplete.js: turns any <input> into a WAI-ARIA 1.2 combobox that
// asks ahead-serve at every keystroke. One dependency-free ES module, served
// by ahead-serve at /ahead-autocomplete.js (with CORS), so a page on any
// origin can use it:
//
//   <input id="q" aria-label="Search">
//   <script type="module">
//     import { autocomplete } from "https://search.example.com/ahead-autocomplete.js";
//     autocomplete(document.getElementById("q"), { server: "https://search.example.com" });
//   </script>
//
// Each keystroke sends one request and aborts the one before; an answer
// that arrives for anything but the latest input is dropped, so a slow
// answer never replaces a newer one (no debounce: the server answers in
// microseconds). Suggestions are inserted as text, never as HTML, with the
// answer's spans (code points of the text) in <mark>. Keyboard as the
// combobox pattern says: ArrowDown/ArrowUp move (aria-activedescendant),
// Enter picks, Escape closes and then clears, Tab closes; the mouse picks.
//
// Options (all optional):
//   server   base URL of ahead-serve ("" : this page's origin)
//   index    index name ("default"); k (10); typos ("auto", 0, 1, 2);
//            match ("words", "prefix"); context (a context value): unset
//            ones are left to the server's defaults
//   headers  extra request headers (a header outside CORS's safe list makes
//            the browser send a preflight, which ahead-serve answers)
//   render   function (item, parts) -> Node: an option's content; parts
//            has highlighted() (the text with <mark>s) and badge() (the
//            typo badge or null), to reuse in a renderer of one's own
//   status   an element for messages ("No matches.", errors), false for
//            none; by default one is made after the list
//   onSelect function (item): an option was picked (also the event
//            "ahead-select" on the input, detail {item})
//   onAnswer function ({query, body, timing}): an answer is shown (also the
//            event "ahead-answer")
//   onError  function ({query, message, status}): a request failed (also the
//            event "ahead-error")
// Returns a controller: { options, refresh(), close(), destroy() }; change
// controller.options.index (or any option) and call refresh().
//
// Looks: the list is a <ul class="ahead-listbox"> placed right after the
// input, its options <li class="ahead-option"> with <span class="ahead-text">
// and <span class="ahead-badge">; the status <p class="ahead-status"> (with
// "ahead-error" on errors). The built-in style sheet uses :where(), so any
// rule of the page wins, and custom properties: --ahead-bg, --ahead-fg,
// --ahead-muted, --ahead-line, --ahead-active, --ahead-mark, --ahead-error,
// --ahead-radius, --ahead-shadow, --ahead-z. It is adopted by the input's
// root, so the widget works inside a shadow root too. The list is placed
// under the input through --ahead-top, --ahead-left and --ahead-width, set
// on the list: nothing in a style attribute that a page cannot override.

const STYLE = `
:where(.ahead-listbox) {
  position: absolute; top: var(--ahead-top, 100%); left: var(--ahead-left, 0);
  width: var(--ahead-width, auto); z-index: var(--ahead-z, 10); box-sizing: border-box;
  list-style: none; margin: 0; padding: 0.3rem 0; max-height: 60vh; overflow-y: auto;
  background: var(--ahead-bg, Canvas); color: var(--ahead-fg, CanvasText);
  border: 1px solid var(--ahead-line, #d6d3d1); border-radius: var(--ahead-radius, 0.5rem);
  box-shadow: var(--ahead-shadow, 0 8px 24px rgb(0 0 0 / 12%));
}
:where(.ahead-listbox[hidden]) { display: none; }
:where(.ahead-option) {
  display: flex; justify-content: space-between; gap: 1rem; padding: 0.45rem 0.8rem;
  cursor: pointer; overflow-wrap: anywhere;
}
:where(.ahead-option[aria-selected="true"]) { background: var(--ahead-active, #e7f0fd); }
:where(.ahead-text) { white-space: pre-wrap; }
:where(.ahead-option mark) { background: var(--ahead-mark, #fde68a); color: inherit; border-radius: 0.15rem; }
:where(.ahead-badge) { flex: none; align-self: center; font-size: 0.75em; color: var(--ahead-muted, #6b6663); }
:where(.ahead-status) { min-height: 1.3em; margin: 0.5rem 0 0; color: var(--ahead-muted, #6b6663); }
:where(.ahead-status.ahead-error) { color: var(--ahead-error, #b91c1c); }
`;

// One style sheet per root (the document, or each shadow root) it is used in.
const styled = new WeakSet();
function adoptStyle(root) {
  if (styled.has(root)) return;
  styled.add(root);
  if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);
    root.adoptedStyleSheets = [sheet, ...root.adoptedStyleSheets]; // first: the page's rules follow
    return;
  }
  const style = document.createElement("style");
  style.textContent = STYLE;
  (root.head || root).prepend(style);
}

let widgets = 0; // for unique element ids

// The text with the code points of each [start, end) span in a <mark>, as nodes.
export function highlighted(text, spans) {
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

function typoBadge(item) {
  if (!(item.typos > 0)) return null;
  const badge = document.createElement("span");
  badge.className = "ahead-badge";
  badge.textContent = item.typos === 1 ? "1 typo" : item.typos + " typos";
  return badge;
}

function defaultRender(item, parts) {
  const text = document.createElement("span");
  text.className = "ahead-text";
  text.append(parts.highlighted());
  const frag = document.createDocumentFragment();
  frag.append(text);
  const badge = parts.badge();
  if (badge) frag.append(badge);
  return frag;
}

export function autocomplete(input, options = {}) {
  if (!(input instanceof HTMLInputElement)) throw new TypeError("autocomplete: not an <input>");
  const opts = Object.assign({ server: "", index: "default", k: 10 }, options);
  const id = "ahead-" + ++widgets;
  const root = input.getRootNode();
  adoptStyle(root);

  const listbox = document.createElement("ul");
  listbox.id = id + "-listbox";
  listbox.className = "ahead-listbox";
  listbox.setAttribute("role", "listbox");
  listbox.hidden = true;
  if (input.labels && input.labels[0]) {
    const label = input.labels[0];
    if (!label.id) label.id = id + "-label";
    listbox.setAttribute("aria-labelledby", label.id);
  } else if (input.getAttribute("aria-label")) {
    listbox.setAttribute("aria-label", input.getAttribute("aria-label"));
  }
  input.after(listbox);
  let status = null;
  if (opts.status instanceof Element) {
    status = opts.status;
  } else if (opts.status !== false) {
    status = document.createElement("p");
    status.className = "ahead-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    listbox.after(status);
  }
  const made = { listbox, status: opts.status instanceof Element || opts.status === false ? null : status };
  const before = {};
  for (const name of ["role", "aria-autocomplete", "aria-expanded", "aria-controls", "autocomplete"])
    before[name] = input.getAttribute(name);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", listbox.id);
  input.setAttribute("autocomplete", "off");

  let items = []; // the suggestions shown
  let active = -1; // the one the keyboard or the pointer is on
  let inflight = null; // the AbortController of the latest request
  let seq = 0; // requests sent; only the answer to the latest is shown

  function emit(name, detail, callback) {
    if (typeof callback === "function") callback(detail);
    input.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }

  function setStatus(text, error) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("ahead-error", !!error);
  }

  function place() {
    listbox.style.setProperty("--ahead-top", input.offsetTop + input.offsetHeight + 4 + "px");
    listbox.style.setProperty("--ahead-left", input.offsetLeft + "px");
    listbox.style.setProperty("--ahead-width", input.offsetWidth + "px");
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
    place();
    listbox.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function close() {
    setActive(-1);
    listbox.hidden = true;
    input.setAttribute("aria-expanded", "false");
  }

  function show(query, body, timing) {
    items = body.suggestions || [];
    active = -1;
    input.removeAttribute("aria-activedescendant");
    const render = typeof opts.render === "function" ? opts.render : defaultRender;
    listbox.replaceChildren(
      ...items.map((item, i) => {
        const li = document.createElement("li");
        li.id = id + "-option-" + i;
        li.className = "ahead-option";
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        const parts = { highlighted: () => highlighted(item.text, item.spans), badge: () => typoBadge(item) };
        const content = render(item, parts);
        if (content instanceof Node) li.append(content);
        else li.textContent = String(content ?? item.text); // a string is text, never markup
        return li;
      })
    );
    if (items.length > 0) {
      open();
      setStatus("");
    } else {
      close();
      setStatus(query ? "No matches." : "");
    }
    emit("ahead-answer", { query, body, timing }, opts.onAnswer);
  }

  function fail(query, message, httpStatus) {
    items = [];
    listbox.replaceChildren();
    close();
    setStatus(message, true);
    emit("ahead-error", { query, message, status: httpStatus }, opts.onError);
  }

  function url(query) {
    const params = new URLSearchParams({ q: query });
    for (const name of ["k", "typos", "match", "context"])
      if (opts[name] !== undefined && opts[name] !== null && opts[name] !== "") params.set(name, String(opts[name]));
    const base = String(opts.server || "").replace(/\/+$/, "");
    return base + "/v1/indexes/" + encodeURIComponent(opts.index || "default") + "/complete?" + params;
  }

  async function ask(query) {
    if (inflight) inflight.abort();
    const ctrl = new AbortController();
    inflight = ctrl;
    const mine = ++seq;
    let r, body;
    try {
      r = await fetch(url(query), {
        signal: ctrl.signal,
        headers: Object.assign({ Accept: "application/json" }, opts.headers || {}),
      });
      body = await r.json().catch(() => null);
    } catch (e) {
      if (ctrl.signal.aborted || mine !== seq) return; // a newer keystroke took over
      fail(query, "The server is unreachable. Is ahead-serve running?", 0);
      return;
    }
    if (mine !== seq) return;
    inflight = null;
    if (!r.ok || !body) {
      const said = body && body.error && body.error.message;
      fail(query, said ? "The server said: " + said : "The server answered " + r.status + ".", r.status);
      return;
    }
    show(query, body, r.headers.get("server-timing"));
  }

  function pick(i) {
    if (i < 0 || i >= items.length) return;
    const item = items[i];
    input.value = item.text;
    close();
    input.focus();
    emit("ahead-select", { item }, opts.onSelect && ((d) => opts.onSelect(d.item)));
  }

  const onInput = () => ask(input.value);
  const onFocus = () => {
    if (items.length === 0 && input.value === "") ask("");
    else open();
  };
  const onBlur = () => close();
  const onKeydown = (e) => {
    // A key that an input method is composing with (Korean, Japanese, Chinese) is its own:
    // Enter then commits the syllable, it does not pick a suggestion.
    if (e.isComposing || e.keyCode === 229) return;
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
  };
  const optionOf = (e) => {
    const li = e.target.closest(".ahead-option");
    return li && li.parentNode === listbox ? Array.prototype.indexOf.call(listbox.children, li) : -1;
  };
  // The pointer: pressing an option must not take the focus from the input.
  const onMousedown = (e) => e.preventDefault();
  const onClick = (e) => pick(optionOf(e));
  const onMousemove = (e) => {
    const i = optionOf(e);
    if (i >= 0 && i !== active) setActive(i);
  };
  const onResize = () => {
    if (!listbox.hidden) place();
  };
  input.addEventListener("input", onInput);
  input.addEventListener("focus", onFocus);
  input.addEventListener("blur", onBlur);
  input.addEventListener("keydown", onKeydown);
  listbox.addEventListener("mousedown", onMousedown);
  listbox.addEventListener("click", onClick);
  listbox.addEventListener("mousemove", onMousemove);
  window.addEventListener("resize", onResize);

  return {
    options: opts,
    // Asks again for what the input holds (after changing options).
    refresh: () => ask(input.value),
    close,
    // Removes everything the widget added, and its listeners.
    destroy() {
      if (inflight) inflight.abort();
      seq++;
      input.removeEventListener("input", onInput);
      input.removeEventListener("focus", onFocus);
      input.removeEventListener("blur", onBlur);
      input.removeEventListener("keydown", onKeydown);
      window.removeEventListener("resize", onResize);
      input.removeAttribute("aria-activedescendant");
      for (const [name, value] of Object.entries(before)) {
        if (value === null) input.removeAttribute(name);
        else input.setAttribute(name, value);
      }
      made.listbox.remove();
      if (made.status) made.status.remove();
    },
  };
}
