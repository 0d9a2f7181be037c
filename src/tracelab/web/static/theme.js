// Apply the saved light/dark choice before the page paints (no flash of the other theme).
(function () {
  try {
    var saved = localStorage.getItem("tracelab-theme");
    if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
  } catch (e) { /* storage disabled: follow prefers-color-scheme */ }
})();
