/* Interactive figures of chapters 7-9 ("explorers"), no kernel and no network needed.
 *
 * Every element [data-explorer] holds its data as <script type="application/json"
 * class="xp-data"> (written by companion/teaching/explorer_html.py) and its cells as
 * elements. Selecting a cell [data-cell] (click, Enter or Space) marks it
 * aria-selected="true" and every cell it links to data-linked="true" (with the number
 * of the link in data-note), clearing the previous marks; the arrow keys move the focus
 * within a grid; the case buttons show one case at a time.
 */
(function () {
  "use strict";

  function clear(fig) {
    fig.querySelectorAll('[data-cell][aria-selected="true"]').forEach(function (el) {
      el.setAttribute("aria-selected", "false");
    });
    fig.querySelectorAll("[data-linked]").forEach(function (el) {
      el.removeAttribute("data-linked");
      el.removeAttribute("data-note");
    });
  }

  function wire(fig) {
    if (fig.getAttribute("data-wired") === "true") { return; }
    var source = fig.querySelector("script.xp-data");
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    var cases = {};
    data.cases.forEach(function (c) { cases[c.key] = c; });
    var cells = {};
    fig.querySelectorAll("[data-cell]").forEach(function (el) {
      cells[el.getAttribute("data-cell")] = el;
    });
    var status = fig.querySelector(".xp-status");

    function select(el) {
      var id = el.getAttribute("data-cell");
      var c = cases[id.split("/")[0]];
      if (!c || !(id in c.links)) { return; }
      clear(fig);
      el.setAttribute("aria-selected", "true");
      rove(el);
      var notes = c.notes[id] || {};
      c.links[id].forEach(function (target) {
        var t = cells[target];
        if (!t) { return; }
        t.setAttribute("data-linked", "true");
        if (notes[target]) { t.setAttribute("data-note", notes[target]); }
      });
      if (status) { status.textContent = c.details[id] || ""; }
    }

    function rove(el) {  /* one tab stop per grid: the cell last selected or moved to */
      var grid = el.closest('[role="grid"]');
      if (!grid) { return; }
      grid.querySelectorAll('[role="gridcell"][tabindex="0"]').forEach(function (c) {
        c.setAttribute("tabindex", "-1");
      });
      el.setAttribute("tabindex", "0");
    }

    function move(el, key) {
      var step = {ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1]};
      var d = step[key];
      var grid = el.closest('[role="grid"]');
      var r = Number(el.getAttribute("data-r")) + d[0];
      var c = Number(el.getAttribute("data-c")) + d[1];
      var next = grid && grid.querySelector('[data-r="' + r + '"][data-c="' + c + '"]');
      if (!next) { return; }
      rove(next);
      next.focus();
    }

    fig.addEventListener("click", function (ev) {
      var el = ev.target.closest("[data-cell]");
      if (el && fig.contains(el) && el.getAttribute("role") === "gridcell") { select(el); }
      var button = ev.target.closest("[data-case-button]");
      if (button && fig.contains(button)) { show(button.getAttribute("data-case-button")); }
    });
    fig.addEventListener("keydown", function (ev) {
      var el = ev.target.closest ? ev.target.closest('[role="gridcell"][data-cell]') : null;
      if (!el || !fig.contains(el)) { return; }
      if (ev.key === "Enter" || ev.key === " " || ev.key === "Spacebar") {
        ev.preventDefault();
        select(el);
      } else if (ev.key.indexOf("Arrow") === 0) {
        ev.preventDefault();
        move(el, ev.key);
      }
    });

    function show(key) {
      fig.querySelectorAll("[data-case]").forEach(function (panel) {
        panel.hidden = panel.getAttribute("data-case") !== key;
      });
      fig.querySelectorAll("[data-case-button]").forEach(function (b) {
        b.setAttribute("aria-pressed", String(b.getAttribute("data-case-button") === key));
      });
    }

    if (data.cases.length > 1) { show(data.cases[0].key); }
    fig.setAttribute("data-wired", "true");
  }

  function init() {
    document.querySelectorAll("[data-explorer]").forEach(wire);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
