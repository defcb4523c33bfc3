"""Data of the interactive figures of chapters 7-9: which cell a gradient reaches.

Each figure (an *explorer*) shows small arrays as grids of cells; selecting a
cell highlights the cells connected to it (:mod:`~companion.teaching.explorer_html`
renders them, ``book/_static/explorers.js`` wires them in the HTML book):

* ``"conv-forward"`` (chapter 7): an output cell and the window of every input
  channel and the filter weights whose products it sums;
* ``"conv-backward"`` (chapter 8), three cases (stride 1; padding 1; stride 2):
  a cell of :math:`\\delta` and the cells of ``dx`` and ``dW`` it reaches; a cell
  of ``dx`` and the :math:`\\delta` cells and (rotated) weights that feed it; a
  cell of ``dW`` and the cells of ``x`` and :math:`\\delta` whose products it sums;
* ``"pool-backward"`` (chapter 9), max pooling (with a tie) and average
  pooling: a cell of :math:`\\delta` and the inputs it is routed or spread to.

The links come from index math (:func:`conv_terms`, :func:`pool_terms`); the
values from the package's own forward and backward functions. The tests check
the links against those functions' results (``tests/teaching/test_explorers.py``).

A cell is named ``"<case>/<grid>:<channel>:<row>:<col>"``, e.g.
``"s1/dout:0:1:2"``: ``δ[0, 1, 2]`` in the stride-1 case.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from companion.functional import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    conv2d_backward,
    conv2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

__all__ = ["EXPLORERS", "conv_terms", "pool_terms", "explorer_data", "explorer_links"]

#: The figures, by name.
EXPLORERS = ("conv-forward", "conv-backward", "pool-backward")

#: Seeds of the figures' small integer arrays.
SEED = 7


def conv_terms(shape, kernel, stride=1, padding=0):
    """Every product of a one-filter convolution, as index tuples.

    Parameters
    ----------
    shape : (int, int, int)
        The input's ``(C, H, W)``.
    kernel : int
        The filter's side ``K`` (square filters).
    stride, padding : int
        As :func:`~companion.functional.conv2d_forward`.

    Returns
    -------
    list of (i, j, c, h, w, p, q)
        ``out[i, j]`` contains the product ``w[c, p, q] * x[c, h, w]``, with
        ``h = i*stride + p - padding`` and ``w = j*stride + q - padding`` inside
        the image (a weight over the padding multiplies 0: no term).
    """
    C, H, W = shape
    Ho = (H + 2 * padding - kernel) // stride + 1
    Wo = (W + 2 * padding - kernel) // stride + 1
    terms = []
    for i in range(Ho):
        for j in range(Wo):
            for c in range(C):
                for p in range(kernel):
                    for q in range(kernel):
                        h, v = i * stride + p - padding, j * stride + q - padding
                        if 0 <= h < H and 0 <= v < W:
                            terms.append((i, j, c, h, v, p, q))
    return terms


def pool_terms(x, size, stride, kind):
    """Which input each pooling window passes its gradient to.

    Parameters
    ----------
    x : ndarray, shape ``(H, W)``
        One image plane.
    size, stride : int
        Square window and stride.
    kind : {"max", "avg"}
        Max pooling routes to the window's maximum, the *first* in row-major
        window order when several tie (the package's rule); average pooling
        spreads over the whole window.

    Returns
    -------
    list of (i, j, h, w)
        Window ``(i, j)`` passes gradient to input ``(h, w)``.
    """
    H, W = x.shape
    terms = []
    for i in range((H - size) // stride + 1):
        for j in range((W - size) // stride + 1):
            h0, w0 = i * stride, j * stride
            if kind == "max":
                k = int(np.argmax(x[h0:h0 + size, w0:w0 + size]))  # first maximum
                terms.append((i, j, h0 + k // size, w0 + k % size))
            elif kind == "avg":
                terms += [(i, j, h0 + a, w0 + b) for a in range(size)
                          for b in range(size)]
            else:
                raise ValueError(f"kind must be 'max' or 'avg', got {kind!r}")
    return terms


def _fmt(value) -> str:
    """A number for display: at most 3 decimals, no trailing zeros, a real minus."""
    text = f"{round(float(value), 3) + 0.0:g}"
    return text.replace("-", "\u2212")


def _grid(name, title, values, clickable, pad=0):
    """A grid spec: ``values`` of shape ``(channels, rows, cols)`` as display text."""
    values = np.asarray(values)
    return {"name": name, "title": title, "pad": pad, "clickable": clickable,
            "values": [[[_fmt(v) for v in row] for row in ch] for ch in values]}


class _Links:
    """Links, notes (a number shown on a linked cell) and the sentence of each
    selectable cell, for one case."""

    def __init__(self, case):
        self.case = case
        self.links = defaultdict(dict)
        self.details = {}

    def cell(self, grid, c, h, w):
        return f"{self.case}/{grid}:{c}:{h}:{w}"

    def add(self, source, target, note=""):
        self.links[source][target] = note

    def finish(self, grids):
        """Every clickable cell gets an entry (an empty one: it links to nothing)."""
        links, notes = {}, {}
        for g in grids:
            if not g["clickable"]:
                continue
            for c, ch in enumerate(g["values"]):
                for h, row in enumerate(ch):
                    for w in range(len(row)):
                        cell = self.cell(g["name"], c, h, w)
                        linked = self.links.get(cell, {})
                        links[cell] = sorted(linked)
                        notes[cell] = {t: n for t, n in sorted(linked.items()) if n}
                        self.details.setdefault(cell, "it is connected to no cell")
        return {"key": self.case, "grids": grids, "links": links, "notes": notes,
                "details": self.details}


def _integers(rng, low, high, shape):
    return rng.integers(low, high + 1, size=shape).astype(np.float64)


def _conv_forward_case():
    rng = np.random.default_rng(SEED)
    x = _integers(rng, 0, 3, (1, 2, 5, 5))
    w = _integers(rng, -1, 1, (1, 2, 3, 3))
    b = np.array([1.0])
    out, _ = conv2d_forward(x, w, b)
    L = _Links("main")
    sums = defaultdict(list)
    for i, j, c, h, v, p, q in conv_terms((2, 5, 5), 3):
        o = L.cell("out", 0, i, j)
        product = w[0, c, p, q] * x[0, c, h, v]
        L.add(o, L.cell("x", c, h, v), _fmt(product))
        L.add(o, L.cell("w", c, p, q))
        sums[o].append(product)
    for o, products in sums.items():
        i, j = (int(k) for k in o.split(":")[2:])
        L.details[o] = (f"y[{i},{j}] = b + \u03a3 w\u00b7x over 2 channels \u00d7 9 "
                        f"weights = 1 + ({' + '.join(_fmt(t) for t in products)}) "
                        f"= {_fmt(out[0, 0, i, j])}")
    grids = [_grid("x", "input x", x[0], False),
             _grid("w", "filter w (bias b = 1)", w[0], False),
             _grid("out", "output y", out[0], True)]
    case = L.finish(grids)
    case["label"] = "stride 1, no padding"
    return case


CONV_CASES = (("s1", "stride 1, no padding", 5, 1, 0),
              ("p1", "padding 1", 4, 1, 1),
              ("s2", "stride 2", 6, 2, 0))


def _conv_backward_case(key, label, side, stride, padding):
    rng = np.random.default_rng([SEED, side, stride, padding])
    x = _integers(rng, -2, 3, (1, 2, side, side))
    w = _integers(rng, -1, 2, (1, 2, 3, 3))
    out, cache = conv2d_forward(x, w, np.zeros(1), stride=stride, padding=padding)
    dout = _integers(rng, -2, 2, out.shape)
    dx, dw, _ = conv2d_backward(dout, cache)
    L = _Links(key)
    into_dx, into_dw = defaultdict(list), defaultdict(list)
    for i, j, c, h, v, p, q in conv_terms((2, side, side), 3, stride, padding):
        d, xc = L.cell("dout", 0, i, j), L.cell("dx", c, h, v)
        wc = L.cell("dw", c, p, q)
        dw_term = dout[0, 0, i, j] * x[0, c, h, v]
        dx_term = dout[0, 0, i, j] * w[0, c, p, q]
        L.add(d, xc, _fmt(dx_term))                    # δ·w: its share of dx
        L.add(d, wc, _fmt(dw_term))                    # δ·x: its share of dW
        L.add(xc, d, _fmt(dx_term))
        L.add(xc, L.cell("w", c, p, q))
        L.add(wc, d)
        L.add(wc, L.cell("x", c, h, v), _fmt(dw_term))
        into_dx[xc].append((i, j, p, q, dx_term))
        into_dw[wc].append((i, j, h, v, dw_term))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            d = L.cell("dout", 0, i, j)
            reached = sum(t.startswith(f"{key}/dx") for t in L.links[d])
            L.details[d] = (f"\u03b4[{i},{j}] = {_fmt(dout[0, 0, i, j])} reaches "
                            f"{reached} input "
                            "cells (\u03b4\u00b7w, added to dx) and the weights "
                            "(\u03b4\u00b7x, added to dW)")
    for xc, terms in into_dx.items():
        c, h, v = (int(k) for k in xc.split(":")[1:])
        parts = " + ".join(f"\u03b4[{i},{j}]\u00b7w[{c},{p},{q}]"
                           for i, j, p, q, _ in terms)
        L.details[xc] = (f"dx[{c},{h},{v}] = {parts} = {_fmt(dx[0, c, h, v])}: as "
                         "\u03b4 moves right or down, the weight moves left or up "
                         "(the filter rotated by 180\u00b0)")
    for wc, terms in into_dw.items():
        c, p, q = (int(k) for k in wc.split(":")[1:])
        parts = " + ".join(f"\u03b4[{i},{j}]\u00b7x[{c},{h},{v}]"
                           for i, j, h, v, _ in terms)
        L.details[wc] = (f"dW[{c},{p},{q}] = {parts} = {_fmt(dw[0, c, p, q])}: "
                         "x correlated with \u03b4")
    for c in range(2):
        for h in range(side):
            for v in range(side):
                if L.cell("dx", c, h, v) not in into_dx:
                    L.details[L.cell("dx", c, h, v)] = (
                        f"dx[{c},{h},{v}] = 0: no window covers this input, "
                        "so no gradient reaches it")
    grids = [_grid("x", "input x", x[0], False, padding),
             _grid("w", "filter w", w[0], False),
             _grid("dout", "\u03b4 = \u2202L/\u2202y", dout[0], True),
             _grid("dx", "\u2202L/\u2202x", dx[0], True),
             _grid("dw", "\u2202L/\u2202W", dw[0], True)]
    case = L.finish(grids)
    case["label"] = label
    return case


def _pool_case(kind):
    x = np.array([[1, 6, 2, 8], [5, 3, 8, 4], [7, 0, 9, 1], [2, 4, 3, 6]], float)
    dout = np.array([[[[2, -1], [1, 3]]]], float)
    forward, backward = ((max_pool2d_forward, max_pool2d_backward) if kind == "max"
                         else (avg_pool2d_forward, avg_pool2d_backward))
    out, cache = forward(x[None, None], 2)
    dx = backward(dout, cache)
    L = _Links(kind)
    shares = defaultdict(list)
    for i, j, h, v in pool_terms(x, 2, 2, kind):
        share = dout[0, 0, i, j] / (1 if kind == "max" else 4)
        L.add(L.cell("dout", 0, i, j), L.cell("dx", 0, h, v), _fmt(share))
        L.add(L.cell("dx", 0, h, v), L.cell("dout", 0, i, j), _fmt(share))
        L.add(L.cell("dout", 0, i, j), L.cell("x", 0, h, v))
        shares[(i, j)].append((h, v))
    for (i, j), cells in shares.items():
        d = dout[0, 0, i, j]
        if kind == "max":
            (h, v), = cells
            win = x[2 * i:2 * i + 2, 2 * j:2 * j + 2]
            tie = (f" ({int((win == win.max()).sum())} inputs tie at "
                   f"{_fmt(win.max())}: the first in row-major order wins)"
                   if (win == win.max()).sum() > 1 else "")
            text = (f"\u03b4[{i},{j}] = {_fmt(d)} goes whole to the window's "
                    f"maximum x[{h},{v}] = {_fmt(x[h, v])}{tie}")
        else:
            text = (f"\u03b4[{i},{j}] = {_fmt(d)} is spread over its 2\u00d72 window: "
                    f"each input gets {_fmt(d)}/4 = {_fmt(d / 4)}")
        L.details[L.cell("dout", 0, i, j)] = text
    for h in range(4):
        for v in range(4):
            cell = L.cell("dx", 0, h, v)
            L.details[cell] = (f"dx[{h},{v}] = {_fmt(dx[0, 0, h, v])}" +
                               ("" if cell in L.links else
                                ": not the maximum of its window, no gradient"))
    grids = [_grid("x", "input x", x[None], False),
             _grid("out", f"{kind} pooled y (2\u00d72 windows, stride 2)", out[0],
                   False),
             _grid("dout", "\u03b4 = \u2202L/\u2202y", dout[0], True),
             _grid("dx", "\u2202L/\u2202x", dx[0], True)]
    case = L.finish(grids)
    case["label"] = ("max pooling (a tie in the top-right window)" if kind == "max"
                     else "average pooling")
    return case


def explorer_data(name):
    """The data of figure ``name`` (one of :data:`EXPLORERS`).

    Returns
    -------
    dict
        ``{"name", "cases"}``; each case has ``key``, ``label``, ``grids``
        (name, title, padding, clickable, values as display text),
        ``links`` (every selectable cell: the sorted cells it is connected to),
        ``notes`` (the number shown on a linked cell) and ``details`` (the
        sentence shown when a cell is selected).
    """
    if name == "conv-forward":
        cases = [_conv_forward_case()]
    elif name == "conv-backward":
        cases = [_conv_backward_case(*spec) for spec in CONV_CASES]
    elif name == "pool-backward":
        cases = [_pool_case("max"), _pool_case("avg")]
    else:
        raise ValueError(f"name must be one of {EXPLORERS}, got {name!r}")
    return {"name": name, "cases": cases}


def explorer_links(name):
    """Every selectable cell of figure ``name`` and the sorted cells it links to."""
    return {cell: linked for case in explorer_data(name)["cases"]
            for cell, linked in case["links"].items()}
