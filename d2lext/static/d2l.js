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
    try {
      return window.localStorage.getItem(STORAGE_KEY);
    } catch (err) {
      return null;
    }
  }

  function show(framework) {
    document.querySelectorAll(".d2l-framework-only").forEach((block) => {
      block.hidden = framework !== null && !block.classList.contains("d2l-framework-" + framework);
    });
    // The notebook download of the chosen framework comes first to the eye.
    document.querySelectorAll("a.d2l-notebook").forEach((link) => {
      link.classList.toggle("d2l-chosen", link.classList.contains("d2l-notebook-" + framework));
    });
  }

  document.addEventListener("change", (event) => {
    const label = event.target.nextElementSibling;
    if (label && label.dataset && label.dataset.syncGroup === GROUP) show(label.dataset.syncId);
  });
  // After sphinx-design has restored the stored choice (it also runs on DOMContentLoaded).
  document.addEventListener("DOMContentLoaded", () => setTimeout(() => show(chosen()), 0));
})();
