"""HTML of the interactive figures of chapters 7-9 (their data: :mod:`explorers`).

:func:`explorer_html` renders a figure as one element
``<div class="xp" data-explorer="<name>">``: its data as inline JSON
(``<script type="application/json">``) and every grid cell as an element, the
selectable ones with ``data-cell``, ``role="gridcell"``, ``aria-selected`` and
a roving ``tabindex``. The book's ``book/_static/explorers.js`` (served with
every page, no kernel needed) finds the figures and wires them: a click, or
Enter or Space, selects a cell and marks the cells it links to with
``data-linked="true"``; the arrow keys move within a grid. In a notebook
without that script the figure is a static picture of the arrays.

The HTML is deterministic (no ids, timestamps or addresses), so nbval compares
it like any other output.
"""
from __future__ import annotations

import html
import json

from companion.teaching.explorers import explorer_data

__all__ = ["explorer_html", "show_explorer"]

_HELP = {
    "conv-forward": "Select an output cell (click, or Tab then Enter; arrows move).",
    "conv-backward": ("Select a cell of \u03b4, \u2202L/\u2202x or \u2202L/\u2202W "
                      "(click, or Tab then Enter; arrows move)."),
    "pool-backward": ("Select a cell of \u03b4 or \u2202L/\u2202x "
                      "(click, or Tab then Enter; arrows move)."),
}


def _attrs(**values) -> str:
    """``class_="a", data_cell="b"`` -> `` class="a" data-cell="b"`` (escaped)."""
    return "".join(f' {k.rstrip("_").replace("_", "-")}="{html.escape(str(v))}"'
                   for k, v in values.items())


def _channel(case, grid, c, values) -> str:
    """One channel of one grid: rows of cells, the padding as a grey ring."""
    pad, name, key = grid["pad"], grid["name"], case["key"]
    rows, cols = len(values), len(values[0])
    title = grid["title"] + (f", channel {c}" if len(grid["values"]) > 1 else "")
    role = "grid" if grid["clickable"] else "table"
    parts = ['<div class="xp-channel">',
             f'<div class="xp-caption">{html.escape(title)}</div>'
             f'<div{_attrs(role=role, class_="xp-grid", aria_label=title)}>']
    first = True
    for r in range(-pad, rows + pad):
        parts.append('<div role="row" class="xp-row">')
        for col in range(-pad, cols + pad):
            if not (0 <= r < rows and 0 <= col < cols):
                parts.append('<span role="cell" class="xp-cell xp-pad" '
                             'aria-label="padding">0</span>')
                continue
            text = values[r][col]
            label = f"{grid['title']} [{c},{r},{col}] = {text}"
            cell = f"{key}/{name}:{c}:{r}:{col}"
            if grid["clickable"]:
                dead = " xp-dead" if not case["links"][cell] else ""
                parts.append(f'<span{_attrs(role="gridcell", class_="xp-cell" + dead)}'
                             f'{_attrs(data_cell=cell, data_r=r, data_c=col)}'
                             f'{_attrs(tabindex=0 if first else -1)}'
                             f'{_attrs(aria_selected="false", aria_label=label)}>'
                             f'{html.escape(text)}</span>')
                first = False
            else:
                parts.append(f'<span{_attrs(role="cell", class_="xp-cell")}'
                             f'{_attrs(data_cell=cell, aria_label=label)}>'
                             f'{html.escape(text)}</span>')
        parts.append("</div>")
    parts.append("</div></div>")
    return "".join(parts)


def _case(case) -> str:
    parts = [f'<div{_attrs(class_="xp-case", data_case=case["key"])}'
             f'{_attrs(aria_label=case["label"])}>']
    for grid in case["grids"]:
        parts.append(f'<div{_attrs(class_="xp-array", data_grid=grid["name"])}>')
        parts += [_channel(case, grid, c, v) for c, v in enumerate(grid["values"])]
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


def explorer_html(name) -> str:
    """The HTML of figure ``name`` (one of
    :data:`~companion.teaching.explorers.EXPLORERS`)."""
    data = explorer_data(name)
    payload = {"name": name, "cases": [
        {k: case[k] for k in ("key", "label", "links", "notes", "details")}
        for case in data["cases"]]}
    script = json.dumps(payload, sort_keys=True, ensure_ascii=True,
                        separators=(",", ":")).replace("<", "\\u003c")
    parts = [f'<div{_attrs(class_="xp", data_explorer=name)}>',
             f'<script type="application/json" class="xp-data">{script}</script>']
    if len(data["cases"]) > 1:
        parts.append('<div class="xp-cases" role="group" aria-label="cases">')
        for i, case in enumerate(data["cases"]):
            parts.append(f'<button type="button"{_attrs(data_case_button=case["key"])}'
                         f'{_attrs(aria_pressed="true" if i == 0 else "false")}>'
                         f'{html.escape(case["label"])}</button>')
        parts.append("</div>")
    parts += [_case(case) for case in data["cases"]]
    parts.append('<p class="xp-status" aria-live="polite">'
                 f'{html.escape(_HELP[name])}</p>')
    parts.append("</div>")
    return "".join(parts)


def show_explorer(name):
    """Figure ``name`` as an ``IPython.display.HTML`` object (what a chapter shows)."""
    from IPython.display import HTML

    return HTML(explorer_html(name))
