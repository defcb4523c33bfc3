/* Interactive figures of chapters 5 and 7-9 ("explorers"), no kernel and no network needed.
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

  /* Chapter 5's computational graph (companion/teaching/graph_explorer_html.py): the
   * step buttons reveal the nodes' values in topological order (data.forward), then
   * their gradients in reverse order (data.backward), and the gradient each node sends
   * back along its input edges; selecting a node [data-cell][role="option"] marks it
   * aria-selected="true" and the nodes and edges it reads and feeds data-linked="true"
   * (data-dir "in" or "out"). */
  function wireGraph(fig) {
    if (fig.getAttribute("data-wired") === "true") { return; }
    var source = fig.querySelector("script.xp-data");
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    var parts = {};
    fig.querySelectorAll("[data-cell]").forEach(function (el) {
      parts[el.getAttribute("data-cell")] = el;
    });
    var status = fig.querySelector(".xp-status");
    var buttons = {};
    fig.querySelectorAll("[data-step-button]").forEach(function (b) {
      buttons[b.getAttribute("data-step-button")] = b;
    });
    var nodes = data.forward.slice();
    var done = {forward: 0, backward: 0};

    function show(el, selector, on) {
      if (!el) { return; }
      el.querySelectorAll(selector).forEach(function (p) {
        p.setAttribute("data-shown", String(on));
      });
    }

    function render() {
      var gone = {};
      data.forward.forEach(function (id, k) {
        show(parts[id], '[data-part="value"]', k < done.forward);
      });
      data.backward.forEach(function (id, k) {
        show(parts[id], '[data-part="grad"]', k < done.backward);
        gone[id] = k < done.backward;
      });
      data.edges.forEach(function (e) {   /* sent back when its target's step is done */
        show(parts[e.id], ".gx-edge-grad", gone[e.target] === true);
      });
      fig.querySelectorAll('[data-current="true"]').forEach(function (el) {
        el.removeAttribute("data-current");
      });
      var step = done.backward ? data.steps.backward[done.backward - 1]
        : done.forward ? data.steps.forward[done.forward - 1] : null;
      if (step) {
        [step.node].concat(step.edges).forEach(function (id) {
          if (parts[id]) { parts[id].setAttribute("data-current", "true"); }
        });
      }
      var n = nodes.length;
      var off = {forward: done.forward === n,
                 backward: done.forward < n || done.backward === n,
                 reset: done.forward === 0};
      Object.keys(buttons).forEach(function (k) {
        buttons[k].setAttribute("aria-disabled", String(off[k]));
      });
      fig.setAttribute("data-forward-done", String(done.forward));
      fig.setAttribute("data-backward-done", String(done.backward));
    }

    function step(kind) {
      var n = nodes.length;
      var text;
      if (kind === "reset") {
        done.forward = 0;
        done.backward = 0;
        text = "Reset: no value computed yet. Press \u201cforward step\u201d.";
      } else if (kind === "forward") {
        if (done.forward === n) {
          text = "The forward pass is done: press \u201cbackward step\u201d.";
        } else {
          done.forward += 1;
          text = "Forward step " + done.forward + " of " + n + ": " +
            data.steps.forward[done.forward - 1].text;
        }
      } else if (done.forward < n) {
        text = "Finish the forward pass first: the backward pass needs every value.";
      } else if (done.backward === n) {
        text = "The backward pass is done: every node holds \u2202L/\u2202(node).";
      } else {
        done.backward += 1;
        text = "Backward step " + done.backward + " of " + n + ": " +
          data.steps.backward[done.backward - 1].text;
      }
      render();
      if (status) { status.textContent = text; }
    }

    function select(el) {
      var id = el.getAttribute("data-cell");
      if (!(id in data.links)) { return; }
      fig.querySelectorAll('[data-cell][aria-selected="true"]').forEach(function (s) {
        s.setAttribute("aria-selected", "false");
      });
      fig.querySelectorAll("[data-linked]").forEach(function (s) {
        s.removeAttribute("data-linked");
        s.removeAttribute("data-dir");
      });
      el.setAttribute("aria-selected", "true");
      rove(el);
      var notes = data.notes[id] || {};
      data.links[id].forEach(function (target) {
        var t = parts[target];
        if (!t) { return; }
        t.setAttribute("data-linked", "true");
        if (notes[target]) { t.setAttribute("data-dir", notes[target]); }
      });
      if (status) { status.textContent = data.details[id] || ""; }
    }

    function rove(el) {
      fig.querySelectorAll('[role="option"][tabindex="0"]').forEach(function (o) {
        o.setAttribute("tabindex", "-1");
      });
      el.setAttribute("tabindex", "0");
    }

    fig.addEventListener("click", function (ev) {
      var button = ev.target.closest("[data-step-button]");
      if (button && fig.contains(button)) {
        step(button.getAttribute("data-step-button"));
        return;
      }
      var el = ev.target.closest('[role="option"][data-cell]');
      if (el && fig.contains(el)) { select(el); }
    });
    fig.addEventListener("keydown", function (ev) {
      var el = ev.target.closest ? ev.target.closest('[role="option"][data-cell]') : null;
      if (!el || !fig.contains(el)) { return; }
      var k = nodes.indexOf(el.getAttribute("data-cell"));
      var to = {ArrowRight: k + 1, ArrowDown: k + 1, ArrowLeft: k - 1, ArrowUp: k - 1};
      if (ev.key === "Enter" || ev.key === " " || ev.key === "Spacebar") {
        ev.preventDefault();
        select(el);
      } else if (ev.key in to) {
        ev.preventDefault();
        var next = parts[nodes[to[ev.key]]];
        if (next) {
          rove(next);
          next.focus();
        }
      }
    });

    render();
    fig.setAttribute("data-wired", "true");
  }

  function init() {
    document.querySelectorAll("[data-explorer]").forEach(function (fig) {
      if (fig.classList.contains("gx")) { wireGraph(fig); } else { wire(fig); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
