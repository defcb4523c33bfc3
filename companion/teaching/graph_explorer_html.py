"""HTML of chapter 5's interactive computational graph (data: :mod:`graph_explorer`).

:func:`graph_html` renders the graph as one element
``<div class="xp gx" data-explorer="backprop-graph">``: its data as inline JSON,
the nodes as boxes placed left to right in topological columns (``role="option"``
in a ``role="listbox"``, with ``data-cell``, ``aria-selected`` and a roving
``tabindex``), the edges as an inline SVG (each a ``<g data-cell>`` with the
gradient sent back along it), three step buttons and an ``aria-live`` status line.
The book's ``book/_static/explorers.js`` wires it: *forward step* shows the next
node's value in topological order, *backward step* (once the forward pass is done)
the next gradient in reverse order, *reset* hides them again; selecting a node
(click, Enter or Space; the arrow keys move) marks the nodes and edges it reads
and feeds ``data-linked="true"``. Without that script (in a notebook) the figure
shows every value and gradient at once.

The HTML is deterministic (no ids, timestamps or addresses; the arrowheads are
drawn, not SVG markers with ids), so nbval compares it like any other output.
"""
from __future__ import annotations

import html
import json

from companion.teaching.graph_explorer import GRAPH_EXPLORER, graph_data

__all__ = ["graph_html", "show_graph"]

#: Node box and grid, in CSS pixels.
NODE_W, NODE_H, COL, ROW = 96, 74, 116, 104

_HELP = ("Press \u201cforward step\u201d to compute the values node by node, then "
         "\u201cbackward step\u201d for the gradients; select a node (click, or Tab "
         "then Enter; arrows move) to see what it reads and feeds.")


def _attrs(**values) -> str:
    """``class_="a", data_cell="b"`` -> `` class="a" data-cell="b"`` (escaped)."""
    return "".join(f' {k.rstrip("_").replace("_", "-")}="{html.escape(str(v))}"'
                   for k, v in values.items())


def _num(v) -> str:
    return f"{round(v, 1) + 0.0:g}"


def _centre(node):
    return node["col"] * COL + NODE_W / 2, node["row"] * ROW + NODE_H / 2


def _clip(dx, dy, margin):
    """Fraction of the centre-to-centre vector ``(dx, dy)`` inside a box."""
    fx = (NODE_W / 2 + margin) / abs(dx) if dx else float("inf")
    fy = (NODE_H / 2 + margin) / abs(dy) if dy else float("inf")
    return min(fx, fy)


def _edge(edge, nodes, labelled) -> str:
    """One edge: a line and an arrowhead; where its source fans out (``labelled``),
    the gradient it carries back (elsewhere that is the source's own gradient)."""
    (x0, y0), (x1, y1) = _centre(nodes[edge["source"]]), _centre(nodes[edge["target"]])
    dx, dy = x1 - x0, y1 - y0
    a, b = _clip(dx, dy, 2), 1 - _clip(dx, dy, 3)
    sx, sy, ex, ey = x0 + a * dx, y0 + a * dy, x0 + b * dx, y0 + b * dy
    length = (dx * dx + dy * dy) ** 0.5
    ux, uy = dx / length, dy / length
    head = [(ex, ey), (ex - 9 * ux - 4.5 * uy, ey - 9 * uy + 4.5 * ux),
            (ex - 9 * ux + 4.5 * uy, ey - 9 * uy - 4.5 * ux)]
    flat = abs(dy) < 1                  # label above a level edge, left of a slanted one
    mx, my = (sx + ex) / 2 - (0 if flat else 5), (sy + ey) / 2 + (-6 if flat else 4)
    points = " ".join(f"{_num(px)},{_num(py)}" for px, py in head)
    label = (f'<text{_attrs(class_="gx-edge-grad", x=_num(mx), y=_num(my))}'
             f'{_attrs(text_anchor="middle" if flat else "end")}>'
             f'\u2190 {html.escape(edge["grad"])}</text>'
             if labelled else "")
    return (f'<g{_attrs(class_="gx-edge", data_cell=edge["id"])}>'
            f'<line{_attrs(x1=_num(sx), y1=_num(sy), x2=_num(ex - 8 * ux))}'
            f'{_attrs(y2=_num(ey - 8 * uy))}/>'
            f'<polygon{_attrs(points=points)}/>{label}</g>')


def _node(node, first) -> str:
    name = node["name"]
    left, top = node["col"] * COL, node["row"] * ROW
    style = (f"position:absolute;left:{left}px;top:{top}px;"
             f"width:{NODE_W}px;height:{NODE_H}px")
    parts = [f'<div{_attrs(role="option", class_="gx-node gx-" + node["kind"])}'
             f'{_attrs(data_cell=node["id"], tabindex=0 if first else -1)}'
             f'{_attrs(aria_selected="false", style=style)}>',
             f'<span class="gx-formula">{html.escape(node["formula"])}</span>',
             f'<span class="gx-value" data-part="value">'
             f'{html.escape(name)} = {html.escape(node["value"])}</span>',
             f'<span class="gx-grad" data-part="grad">\u2202L/\u2202'
             f'{html.escape(name)} = {html.escape(node["grad"])}</span>']
    if node["sum"]:
        parts.append(f'<span class="gx-sum" data-part="grad">'
                     f'{html.escape(node["sum"])}</span>')
    parts.append("</div>")
    return "".join(parts)


def graph_html() -> str:
    """The HTML of chapter 5's computational graph figure."""
    data = graph_data()
    nodes = {n["id"]: n for n in data["nodes"]}
    width = max(n["col"] for n in data["nodes"]) * COL + NODE_W
    height = max(n["row"] for n in data["nodes"]) * ROW + NODE_H
    script = json.dumps(data, sort_keys=True, ensure_ascii=True,
                        separators=(",", ":")).replace("<", "\\u003c")
    parts = [f'<div{_attrs(class_="xp gx", data_explorer=GRAPH_EXPLORER)}>',
             f'<script type="application/json" class="xp-data">{script}</script>',
             '<div class="xp-cases gx-steps" role="group" aria-label="steps">']
    for kind, label, disabled in (("forward", "forward step \u25b6", "false"),
                                  ("backward", "\u25c0 backward step", "true"),
                                  ("reset", "reset", "true")):
        parts.append(f'<button type="button"{_attrs(data_step_button=kind)}'
                     f'{_attrs(aria_disabled=disabled)}>{label}</button>')
    parts.append("</div>")
    parts.append('<div class="gx-scroll">')
    label = "computational graph: nodes in topological order"
    style = f"position:relative;width:{width}px;height:{height}px"
    parts.append(f'<div{_attrs(class_="gx-canvas", role="listbox")}'
                 f'{_attrs(aria_label=label, style=style)}>')
    parts.append(f'<svg{_attrs(class_="gx-edges", width=width, height=height)}'
                 f'{_attrs(viewBox=f"0 0 {width} {height}", aria_hidden="true")}'
                 f'{_attrs(style="position:absolute;left:0;top:0;overflow:visible")}>')
    fans = {n["id"] for n in data["nodes"] if n["sum"]}
    parts += [_edge(e, nodes, e["source"] in fans) for e in data["edges"]]
    parts.append("</svg>")
    parts += [_node(n, i == 0) for i, n in enumerate(data["nodes"])]
    parts.append("</div></div>")
    parts.append(f'<p class="xp-status" aria-live="polite">{html.escape(_HELP)}</p>')
    parts.append("</div>")
    return "".join(parts)


def show_graph():
    """The figure as an ``IPython.display.HTML`` object (what chapter 5 shows)."""
    from IPython.display import HTML

    return HTML(graph_html())
