// The autorecipe report's interactions, written for this page; no library is loaded.
(function () {
  "use strict";

  // A legend button fades one outcome in every chart, so a single label can be followed.
  function setupLegend() {
    document.querySelectorAll("button[data-toggle]").forEach(function (button) {
      button.addEventListener("click", function () {
        var outcome = button.getAttribute("data-toggle");
        var off = button.classList.toggle("off");
        button.setAttribute("aria-pressed", off ? "false" : "true");
        document.querySelectorAll("svg [data-outcome]").forEach(function (mark) {
          if (mark.getAttribute("data-outcome") === outcome) {
            mark.classList.toggle("faded", off);
          }
        });
      });
    });
  }

  // Hovering a tree node lights its path back to the seed recipe.
  function setupTree() {
    var tree = document.querySelector('svg[data-chart="tree"]');
    if (!tree) {
      return;
    }
    var nodes = {};
    var edges = {};
    tree.querySelectorAll("g.tnode").forEach(function (node) {
      nodes[node.getAttribute("data-seq")] = node;
    });
    tree.querySelectorAll("path.edge").forEach(function (edge) {
      edges[edge.getAttribute("data-child")] = edge;
    });
    function light(seq, on) {
      var seen = {};
      while (seq !== null && nodes[seq] && !seen[seq]) {
        seen[seq] = true;
        nodes[seq].classList.toggle("lit", on);
        if (edges[seq]) {
          edges[seq].classList.toggle("lit", on);
        }
        seq = nodes[seq].getAttribute("data-parent");
      }
    }
    Object.keys(nodes).forEach(function (seq) {
      nodes[seq].addEventListener("mouseenter", function () { light(seq, true); });
      nodes[seq].addEventListener("mouseleave", function () { light(seq, false); });
    });
  }

  // Record how many marks each chart laid out with a real size; a headless browser test
  // reads data-drawn to prove the charts were drawn, not only written.
  function countDrawn() {
    document.querySelectorAll("svg[data-chart]").forEach(function (svg) {
      var drawn = 0;
      svg.querySelectorAll(".mark").forEach(function (mark) {
        var box = mark.getBBox();
        if (box.width > 0 || box.height > 0) {  // a flat line is drawn too
          drawn += 1;
        }
      });
      svg.setAttribute("data-drawn", String(drawn));
      // How much of its box's width the chart fills, in percent.
      var box = svg.parentNode.clientWidth;
      var fill = box ? Math.round(100 * svg.getBoundingClientRect().width / box) : 0;
      svg.setAttribute("data-fill", String(fill));
    });
  }

  // A live view's page polls its server for the ledger position and reloads when events
  // have arrived since it was rendered; data-polled records the last answer.
  function setupLive() {
    var root = document.documentElement;
    var shown = root.getAttribute("data-live");
    if (shown === null) {
      return;
    }
    function poll() {
      fetch("/position", { cache: "no-store" })
        .then(function (response) { return response.text(); })
        .then(function (text) {
          root.setAttribute("data-polled", text.trim());
          if (Number(text) > Number(shown)) {
            window.location.reload();
          } else {
            window.setTimeout(poll, 3000);
          }
        })
        .catch(function () { window.setTimeout(poll, 5000); });
    }
    window.setTimeout(poll, 3000);
  }

  setupLegend();
  setupLive();
  setupTree();
  countDrawn();
  document.documentElement.setAttribute("data-ready", "1");
})();
