// The run page re-renders its stages every 2 seconds while the run is unfinished. Keep what the
// reader did: a log or error they opened (or closed) stays so across the updates. (htmx itself
// keeps the focus on a button with an id, so keyboard users do not lose their place.)
(function () {
  var open = {};
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (details.tagName === "DETAILS" && details.id) open[details.id] = details.open;
  }, true);
  document.addEventListener("htmx:afterSettle", function () {
    Object.keys(open).forEach(function (id) {
      var details = document.getElementById(id);
      if (details && details.open !== open[id]) details.open = open[id];
    });
  });
})();
