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
  }

  document.addEventListener("change", (event) => {
    const label = event.target.nextElementSibling;
    if (label && label.dataset && label.dataset.syncGroup === GROUP) show(label.dataset.syncId);
  });
  // After sphinx-design has restored the stored choice (it also runs on DOMContentLoaded).
  document.addEventListener("DOMContentLoaded", () => setTimeout(() => show(chosen()), 0));
})();

// Each #@save marker in a listing links to what it saved on the API page: the function or class
// defined on its line, in the listing's framework (or the page's only one).
(() => {
  function meta(name) {
    const tag = document.querySelector(`meta[name="${name}"]`);
    return tag ? tag.content : null;
  }

  function frameworkOf(element) {
    const content = element.closest(".sd-tab-content");
    const label = content && content.previousElementSibling;
    if (label && label.dataset && label.dataset.syncId) return label.dataset.syncId;
    const selected = (meta("d2l-frameworks") || "").split(" ").filter(Boolean);
    return selected.length === 1 ? selected[0] : null;
  }

  function lineBefore(span) {
    // The text of the marker's line: the highlighted tokens before it, back to a line break.
    let text = "";
    for (let node = span.previousSibling; node; node = node.previousSibling) {
      const piece = node.textContent;
      const end = piece.lastIndexOf("\n");
      if (end >= 0) return piece.slice(end + 1) + text;
      text = piece + text;
    }
    return text;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const api = meta("d2l-api");
    const pkg = meta("d2l-package") || "d2l";
    if (!api) return;
    document.querySelectorAll(".cell_input pre span.c1").forEach((span) => {
      if (span.textContent.trim() !== "#@save") return;
      const defined = /^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)/.exec(lineBefore(span));
      const framework = frameworkOf(span);
      const link = document.createElement("a");
      link.className = "d2l-save-link";
      link.href = defined && framework ? `${api}#${pkg}.${framework}.${defined[1]}` : api;
      link.title = defined ? `${pkg}.${framework}.${defined[1]}` : `${pkg}`;
      link.textContent = span.textContent;
      span.textContent = "";
      span.appendChild(link);
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

  function item(result) {
    const entry = document.createElement("li");
    const link = document.createElement("a");
    link.href = result.url;
    link.textContent = (result.meta && result.meta.title) || result.url;
    const excerpt = document.createElement("p");
    excerpt.className = "context";
    excerpt.innerHTML = result.excerpt; // Pagefind's excerpt: the page's text, escaped, with <mark>
    entry.append(link, excerpt);
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
