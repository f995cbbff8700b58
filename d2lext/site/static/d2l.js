// Show framework-only prose for the framework chosen in the tabs (sphinx-design sync group
// "framework"); with no choice known, everything stays visible. Mark that framework's notebook link.
(() => {
  const GROUP = "framework";
  const STORAGE_KEY = "sphinx-design-tab-id-" + GROUP;

  function chosen() {
    const label = document.querySelector(
      `.sd-tab-set > input:checked + label[data-sync-group="${GROUP}"]`
    );
    if (label) return label.dataset.syncId;
    let stored = null;
    try {
      stored = window.localStorage.getItem(STORAGE_KEY);
    } catch (err) {
      return null;
    }
    // A choice made on another book, or for a framework this page has no prose for: show it all.
    return stored && document.querySelector(`.d2l-framework-${CSS.escape(stored)}`) ? stored : null;
  }

  function show(framework) {
    document.querySelectorAll(".d2l-framework-only").forEach((block) => {
      block.hidden = framework !== null && !block.classList.contains("d2l-framework-" + framework);
    });
    // The notebook download of the chosen framework comes first to the eye.
    document.querySelectorAll("a.d2l-notebook").forEach((link) => {
      link.classList.toggle("d2l-chosen", link.classList.contains("d2l-notebook-" + framework));
    });
    document.querySelectorAll("a.d2l-pdf").forEach((link) => {
      link.classList.toggle("d2l-chosen", link.classList.contains("d2l-pdf-" + framework));
    });
    // "Run online": each service's link for the chosen framework only; a service that has no
    // notebooks of it is hidden, and so is the line when none has.
    document.querySelectorAll(".d2l-launch").forEach((line) => {
      let shown = 0;
      line.querySelectorAll(".d2l-launch-service").forEach((service) => {
        const links = [...service.querySelectorAll("a.d2l-launch-link")];
        const mine = framework === null ? null : links.find((link) => link.dataset.framework === framework);
        links.forEach((link) => (link.hidden = Boolean(mine) && link !== mine));
        service.querySelectorAll(".d2l-separator").forEach((separator) => (separator.hidden = Boolean(mine)));
        service.hidden = framework !== null && !mine;
        const separator = service.querySelector(".d2l-service-separator");
        if (separator) separator.hidden = shown === 0; // the first service shown has none
        shown += service.hidden ? 0 : 1;
      });
      line.hidden = shown === 0;
    });
  }

  document.addEventListener("change", (event) => {
    const label = event.target.nextElementSibling;
    if (label && label.dataset && label.dataset.syncGroup === GROUP) show(label.dataset.syncId);
  });
  // After sphinx-design has restored the stored choice (it also runs on DOMContentLoaded).
  document.addEventListener("DOMContentLoaded", () => setTimeout(() => show(chosen()), 0));
})();

// Each #@save marker in a listing links to what it saved on the API page: the function or class
// it marks, in the listing's framework. A listing shown once for every framework (a shared cell)
// links to the framework the reader chose, and follows the choice.
(() => {
  const GROUP = "framework";
  const DEFINITION = /^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)/;

  function meta(name) {
    const tag = document.querySelector(`meta[name="${name}"]`);
    return tag ? tag.content : null;
  }

  function selected() {
    return (meta("d2l-frameworks") || "").split(" ").filter(Boolean);
  }

  function tabOf(element) {
    const content = element.closest(".sd-tab-content");
    const label = content && content.previousElementSibling;
    return label && label.dataset && label.dataset.syncId ? label.dataset.syncId : null;
  }

  function chosen() {
    // The framework whose tabs are shown (sphinx-design restored the stored choice), else the first.
    const label = document.querySelector(`.sd-tab-set > input:checked + label[data-sync-group="${GROUP}"]`);
    if (label) return label.dataset.syncId;
    let stored = null;
    try {
      stored = window.localStorage.getItem("sphinx-design-tab-id-" + GROUP);
    } catch (err) {
      stored = null;
    }
    return selected().includes(stored) ? stored : selected()[0] || null;
  }

  function textAround(span) {
    // The listing's text before the marker and after it.
    const pre = span.closest("pre");
    const range = document.createRange();
    range.selectNodeContents(pre);
    range.setEndBefore(span);
    const before = range.toString();
    range.selectNodeContents(pre);
    range.setStartAfter(span);
    return [before, range.toString()];
  }

  function parenthesesOpened(line) {
    return (line.match(/[([{]/g) || []).length - (line.match(/[)\]}]/g) || []).length;
  }

  function definedName(span) {
    // The definition the marker marks: on a def or class line; on the last line of a def whose
    // parameters span several lines; or on a decorator line above one.
    const [before, after] = textAround(span);
    const lines = before.split("\n");
    const own = lines[lines.length - 1];
    let found = DEFINITION.exec(own);
    if (found) return found[1];
    if (/^\s*@/.test(own)) {
      for (const line of after.split("\n").slice(1)) {
        if (/^\s*@/.test(line)) continue;
        found = DEFINITION.exec(line);
        return found ? found[1] : null;
      }
      return null;
    }
    let open = parenthesesOpened(own.replace(/#.*$/, ""));
    for (let index = lines.length - 2; index >= 0 && open < 0; index--) {
      const line = lines[index].replace(/#.*$/, "");
      open += parenthesesOpened(line);
      if (open === 0) {
        found = DEFINITION.exec(line);
        return found ? found[1] : null;
      }
    }
    return null;
  }

  function point(link, framework) {
    const api = meta("d2l-api");
    const pkg = meta("d2l-package") || "d2l";
    const name = link.dataset.name;
    const entry = name && framework ? `${pkg}.${framework}.${name}` : null;
    link.href = entry ? `${api}#${entry}` : api;
    link.title = entry || (framework ? `${pkg}.${framework}` : pkg);
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!meta("d2l-api")) return;
    const shared = [];
    document.querySelectorAll(".cell_input pre span.c1").forEach((span) => {
      if (span.textContent.trim() !== "#@save") return;
      const link = document.createElement("a");
      link.className = "d2l-save-link";
      const name = definedName(span);
      if (name) link.dataset.name = name;
      link.textContent = span.textContent;
      span.textContent = "";
      span.appendChild(link);
      const tab = tabOf(span) || (selected().length === 1 ? selected()[0] : null);
      if (tab) {
        point(link, tab);
      } else {
        shared.push(link);
      }
    });
    if (!shared.length) return;
    // After sphinx-design has restored the stored choice (it also runs on DOMContentLoaded).
    setTimeout(() => shared.forEach((link) => point(link, chosen())), 0);
    document.addEventListener("change", (event) => {
      const label = event.target.nextElementSibling;
      if (label && label.dataset && label.dataset.syncGroup === GROUP) {
        shared.forEach((link) => point(link, label.dataset.syncId));
      }
    });
  });
})();

// The theme's sidebar buttons: pydata-sphinx-theme (0.17 and later) wires only the first
// `.primary-toggle` / `.secondary-toggle` of the page, which is its own hidden header button,
// while sphinx-book-theme shows readers a second one (pydata/pydata-sphinx-theme#2451). A click
// on a shown button is passed to the wired one, so the navigation and the page's contents open
// on phones; on wide screens the shown primary button folds the navigation away and back.
(() => {
  function forward(selector) {
    const buttons = [...document.querySelectorAll(selector)];
    if (buttons.length < 2) return;
    const wired = buttons[0];
    buttons.slice(1).forEach((button) => {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopPropagation();
        if (selector === ".primary-toggle" && window.matchMedia("(min-width: 992px)").matches) {
          // Wide screens: the navigation is beside the page; the button folds it away and back.
          document.documentElement.classList.toggle("d2l-sidebar-collapsed");
        } else {
          wired.click(); // narrow screens: the theme opens the navigation over the page
        }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", () => {
    forward(".primary-toggle");
    forward(".secondary-toggle");
  });
})();

// The search page (search.html?q=...): Pagefind's results, which find Chinese words jieba's
// index misses. When Pagefind cannot load (a page opened from file://), Sphinx's results stay.
(() => {
  if (!/\/search\.html$/.test(window.location.pathname)) return;
  document.documentElement.classList.add("d2l-search-page"); // one search box: the page's own
  const query = new URLSearchParams(window.location.search).get("q");
  if (!query) return;

  const BEFORE = 40; // characters of context before the word found, and after it
  const AFTER = 70;

  function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  function marked(text, terms) {
    // The text, escaped, with each whole occurrence of a term in <mark> (not one per character).
    const node = document.createElement("span");
    const pattern = new RegExp(`(${terms.map(escapeRegExp).join("|")})`, "gi");
    text.split(pattern).forEach((piece, index) => {
      if (!piece) return;
      if (index % 2) {
        const mark = document.createElement("mark");
        mark.textContent = piece;
        node.append(mark);
      } else {
        node.append(piece);
      }
    });
    return node;
  }

  function snippet(result, query) {
    // Around the first place the page's text has what was searched (the words together, else
    // one of them): Pagefind's own excerpt may show none of it (特征值 gave one with 值 only).
    const text = result.content || "";
    const terms = query.trim().split(/\s+/).filter(Boolean).sort((a, b) => b.length - a.length);
    const lower = text.toLowerCase();
    let at = lower.indexOf(terms.join(" ").toLowerCase());
    let length = terms.join(" ").length;
    for (const term of terms) {
      if (at >= 0) break;
      at = lower.indexOf(term.toLowerCase());
      length = term.length;
    }
    const excerpt = document.createElement("p");
    excerpt.className = "context";
    if (at < 0) {
      // Not there as typed (Pagefind matched another form): its excerpt, whole words marked.
      excerpt.innerHTML = (result.excerpt || "").replace(/<\/mark>(\s*)<mark>/g, "$1");
      return excerpt;
    }
    const start = Math.max(0, at - BEFORE);
    const end = Math.min(text.length, at + length + AFTER);
    excerpt.append(
      start > 0 ? "…" : "",
      marked(text.slice(start, end), terms),
      end < text.length ? "…" : ""
    );
    return excerpt;
  }

  function item(result) {
    const entry = document.createElement("li");
    const link = document.createElement("a");
    link.href = result.url;
    link.textContent = (result.meta && result.meta.title) || result.url;
    entry.append(link, snippet(result, query));
    return entry;
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const root = new URL(document.documentElement.dataset.content_root || "./", window.location.href);
    let pagefind;
    try {
      pagefind = await import(new URL("pagefind/pagefind.js", root).href);
      await pagefind.options({ baseUrl: root.pathname });
    } catch (err) {
      return;
    }
    const found = await pagefind.search(query);
    const results = await Promise.all(found.results.slice(0, 30).map((result) => result.data()));
    const section = document.createElement("section");
    section.id = "d2l-search-results";
    const heading = document.createElement("h2");
    heading.textContent = document.documentElement.lang.startsWith("zh") ? "搜索结果" : "Search results";
    const summary = document.createElement("p");
    summary.className = "d2l-search-summary";
    summary.textContent = document.documentElement.lang.startsWith("zh")
      ? `找到 ${found.results.length} 个页面。`
      : `${found.results.length} pages found.`;
    const list = document.createElement("ul");
    list.className = "search";
    results.forEach((result) => list.append(item(result)));
    section.append(heading, summary, list);
    const sphinx = document.getElementById("search-results");
    if (sphinx) {
      sphinx.hidden = true;
      sphinx.before(section);
    } else {
      (document.querySelector("article") || document.body).append(section);
    }
    document.documentElement.classList.add("d2l-pagefind");
  });
})();

// Copying text that holds formulas typeset when the site was built: each formula is copied as its
// TeX ($f(x)$, $$...$$ for a display), where the page's text has no characters for it.
(() => {
  const FORMULA = "mjx-container[data-tex]";

  function tex(formula) {
    const code = formula.getAttribute("data-tex");
    return formula.getAttribute("display") === "true" ? `$$${code}$$` : `$${code}$`;
  }

  document.addEventListener("copy", (event) => {
    const selection = window.getSelection();
    if (!selection || !selection.rangeCount || !event.clipboardData) return;
    const range = selection.getRangeAt(0);
    const start = range.commonAncestorContainer;
    const within = (start.nodeType === Node.ELEMENT_NODE ? start : start.parentElement).closest(FORMULA);
    let text;
    if (within) {
      text = tex(within); // part of one formula: the formula
    } else {
      const fragment = range.cloneContents();
      const formulas = fragment.querySelectorAll(FORMULA);
      if (!formulas.length) return;
      formulas.forEach((formula) => formula.replaceWith(tex(formula)));
      const holder = document.createElement("div"); // laid out, so that paragraphs keep their breaks
      holder.style.cssText = "position: fixed; left: -10000px; top: 0; white-space: pre-wrap;";
      holder.append(fragment);
      document.body.append(holder);
      text = holder.innerText;
      holder.remove();
    }
    event.clipboardData.setData("text/plain", text);
    event.preventDefault();
  });
})();
