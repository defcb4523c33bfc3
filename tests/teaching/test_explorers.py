"""companion.teaching.explorers: the links of the interactive figures are the package's
own gradient flow (probed through the real forward and backward functions)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.functional import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    conv2d_backward,
    conv2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
from companion.teaching.explorer_html import explorer_html, show_explorer
from companion.teaching.explorers import (
    CONV_CASES,
    EXPLORERS,
    conv_terms,
    explorer_data,
    explorer_links,
    pool_terms,
)


def _nonzero(a):
    return {tuple(int(i) for i in idx) for idx in np.argwhere(a != 0)}


def _conv_probe(C, H, W, K, s, p):
    """Links found with the real kernels: one-hot δ (with x, w all ones, so no
    product cancels) -> the dx and dW cells it changes."""
    x, w = np.ones((1, C, H, W)), np.ones((1, C, K, K))
    out, cache = conv2d_forward(x, w, np.zeros(1), stride=s, padding=p)
    to_dx, to_dw = {}, {}
    for i, j in np.ndindex(*out.shape[2:]):
        dout = np.zeros_like(out)
        dout[0, 0, i, j] = 1.0
        dx, dw, _ = conv2d_backward(dout, cache)
        to_dx[i, j], to_dw[i, j] = _nonzero(dx[0]), _nonzero(dw[0])
    return out.shape[2:], to_dx, to_dw


def _terms_maps(terms):
    to_dx, to_dw = {}, {}
    for i, j, c, h, v, p, q in terms:
        to_dx.setdefault((i, j), set()).add((c, h, v))
        to_dw.setdefault((i, j), set()).add((c, p, q))
    return to_dx, to_dw


@settings(deadline=None, max_examples=40)
@given(C=st.integers(1, 2), H=st.integers(1, 7), W=st.integers(1, 7),
       K=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 2))
def test_conv_terms_are_the_gradient_flow_of_the_real_backward(C, H, W, K, s, p):
    if K > H + 2 * p or K > W + 2 * p:
        return
    (Ho, Wo), probe_dx, probe_dw = _conv_probe(C, H, W, K, s, p)
    to_dx, to_dw = _terms_maps(conv_terms((C, H, W), K, s, p))
    for i, j in np.ndindex(Ho, Wo):
        assert to_dx.get((i, j), set()) == probe_dx[i, j]
        assert to_dw.get((i, j), set()) == probe_dw[i, j]


def test_conv_terms_pair_each_weight_with_the_input_it_multiplies():
    """The (p, q) of a term is the weight that meets x[h, w] in window (i, j): the
    forward output changes by w*x when that one weight and that one input are set."""
    for C, H, K, s, p in [(1, 4, 3, 1, 1), (2, 5, 3, 2, 0)]:
        terms = set(conv_terms((C, H, H), K, s, p))
        out_shape = None
        for c, h, v in np.ndindex(C, H, H):
            x = np.zeros((1, C, H, H))
            x[0, c, h, v] = 1.0
            for pp, qq in np.ndindex(K, K):
                w = np.zeros((1, C, K, K))
                w[0, c, pp, qq] = 1.0
                out, _ = conv2d_forward(x, w, np.zeros(1), stride=s, padding=p)
                out_shape = out.shape
                hit = _nonzero(out[0, 0])
                assert hit == {(i, j) for i, j, cc, hh, vv, p2, q2 in terms
                               if (cc, hh, vv, p2, q2) == (c, h, v, pp, qq)}
        assert out_shape is not None


@settings(deadline=None, max_examples=40)
@given(H=st.integers(1, 6), W=st.integers(1, 6), k=st.integers(1, 3),
       s=st.integers(1, 3), levels=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_max_pool_routing_is_the_nonzero_pattern_of_the_real_backward(
        H, W, k, s, levels, seed):
    """Few distinct values: ties are common; the first maximum must win, as in the
    package's kernel."""
    if k > min(H, W):
        return
    x = np.random.default_rng(seed).integers(0, levels, (H, W)).astype(float)
    out, cache = max_pool2d_forward(x[None, None], k, s)
    for (i, j) in np.ndindex(*out.shape[2:]):
        dout = np.zeros_like(out)
        dout[0, 0, i, j] = 1.0
        expected = _nonzero(max_pool2d_backward(dout, cache)[0, 0])
        got = {(h, v) for ii, jj, h, v in pool_terms(x, k, s, "max")
               if (ii, jj) == (i, j)}
        assert got == expected


@settings(deadline=None, max_examples=30)
@given(H=st.integers(1, 6), W=st.integers(1, 6), k=st.integers(1, 3),
       s=st.integers(1, 3))
def test_avg_pool_spreading_is_the_nonzero_pattern_of_the_real_backward(H, W, k, s):
    if k > min(H, W):
        return
    x = np.zeros((H, W))
    out, cache = avg_pool2d_forward(x[None, None], k, s)
    for (i, j) in np.ndindex(*out.shape[2:]):
        dout = np.zeros_like(out)
        dout[0, 0, i, j] = 1.0
        dx = avg_pool2d_backward(dout, cache)[0, 0]
        expected = _nonzero(dx)
        assert np.allclose(dx[dx != 0], 1.0 / k**2)
        got = {(h, v) for ii, jj, h, v in pool_terms(x, k, s, "avg")
               if (ii, jj) == (i, j)}
        assert got == expected


def test_pool_terms_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="kind must be"):
        pool_terms(np.zeros((2, 2)), 2, 2, "min")


def _ids(cells, grid):
    """``{(c, h, w)}`` of the cells of ``grid`` among ``cells``."""
    out = set()
    for cell in cells:
        name, c, h, w = cell.split("/")[1].split(":")
        if name == grid:
            out.add((int(c), int(h), int(w)))
    return out


@pytest.mark.parametrize("key, label, side, stride, padding", CONV_CASES)
def test_conv_backward_figure_links_are_the_real_gradient_flow(
        key, label, side, stride, padding):
    case = next(c for c in explorer_data("conv-backward")["cases"] if c["key"] == key)
    links = case["links"]
    (Ho, Wo), probe_dx, probe_dw = _conv_probe(2, side, side, 3, stride, padding)
    for i, j in np.ndindex(Ho, Wo):
        linked = links[f"{key}/dout:0:{i}:{j}"]
        assert _ids(linked, "dx") == probe_dx[i, j]
        assert _ids(linked, "dw") == probe_dw[i, j]
    for c, h, v in np.ndindex(2, side, side):                  # dx cell <- δ cells
        linked = links[f"{key}/dx:{c}:{h}:{v}"]
        assert _ids(linked, "dout") == {(0, i, j) for (i, j), s in probe_dx.items()
                                        if (c, h, v) in s}
    for c, p, q in np.ndindex(2, 3, 3):                        # dW cell <- δ cells
        linked = links[f"{key}/dw:{c}:{p}:{q}"]
        assert _ids(linked, "dout") == {(0, i, j) for (i, j), s in probe_dw.items()
                                        if (c, p, q) in s}
    if key == "s2":                       # the last row and column get no gradient
        dead = [cell for cell, linked in links.items() if "/dx:" in cell and not linked]
        assert len(dead) == 2 * (2 * side - 1)


def test_conv_backward_figure_values_are_the_package_results():
    for case in explorer_data("conv-backward")["cases"]:
        grids = {g["name"]: g for g in case["grids"]}
        assert set(grids) == {"x", "w", "dout", "dx", "dw"}
        val = {k: np.array([[[float(t.replace("\u2212", "-")) for t in row]
                             for row in ch] for ch in g["values"]])
               for k, g in grids.items()}
        spec = next(s for s in CONV_CASES if s[0] == case["key"])
        out, cache = conv2d_forward(val["x"][None], val["w"][None], np.zeros(1),
                                    stride=spec[3], padding=spec[4])
        dx, dw, _ = conv2d_backward(val["dout"][None], cache)
        np.testing.assert_allclose(dx[0], val["dx"])
        np.testing.assert_allclose(dw[0], val["dw"])
        for cell, notes in case["notes"].items():      # δ·w on dx cells, δ·x on dW
            if "/dout:" in cell:
                i, j = (int(t) for t in cell.split(":")[2:])
                for target, note in notes.items():
                    name, c, a, b = target.split("/")[1].split(":")
                    c, a, b = int(c), int(a), int(b)
                    factor = (val["w"][c, a - i * spec[3] + spec[4], b - j * spec[3]
                                       + spec[4]] if name == "dx" else
                              val["x"][c, i * spec[3] + a - spec[4],
                                       j * spec[3] + b - spec[4]])
                    assert float(note.replace("\u2212", "-")) == \
                        val["dout"][0, i, j] * factor


def test_conv_forward_figure_links_windows_and_filter():
    case = explorer_data("conv-forward")["cases"][0]
    for i, j in np.ndindex(3, 3):
        linked = case["links"][f"main/out:0:{i}:{j}"]
        x = np.zeros((1, 2, 5, 5))
        window = set()
        for c, h, v in np.ndindex(2, 5, 5):        # the inputs that change y[i, j]
            x[:] = 0
            x[0, c, h, v] = 1.0
            if conv2d_forward(x, np.ones((1, 2, 3, 3)), np.zeros(1))[0][0, 0, i, j]:
                window.add((c, h, v))
        assert _ids(linked, "x") == window and len(window) == 18
        assert _ids(linked, "w") == set(np.ndindex(2, 3, 3))


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_figure_links_are_the_real_backward(kind):
    case = next(c for c in explorer_data("pool-backward")["cases"] if c["key"] == kind)
    x = np.array([[[float(t) for t in row] for row in case["grids"][0]["values"][0]]])
    forward, backward = ((max_pool2d_forward, max_pool2d_backward) if kind == "max"
                         else (avg_pool2d_forward, avg_pool2d_backward))
    out, cache = forward(x[None], 2)
    for i, j in np.ndindex(2, 2):
        dout = np.zeros_like(out)
        dout[0, 0, i, j] = 1.0
        dx = backward(dout, cache)[0]
        assert _ids(case["links"][f"{kind}/dout:0:{i}:{j}"], "dx") == _nonzero(dx)
    if kind == "max":        # the figure has a tie, broken as the package breaks it
        win = x[0, 0:2, 2:4]
        assert (win == win.max()).sum() == 2
        assert "tie" in case["details"]["max/dout:0:0:1"]


@pytest.mark.parametrize("name", EXPLORERS)
def test_html_holds_the_contract_and_is_deterministic(name):
    text = explorer_html(name)
    assert text == explorer_html(name)
    assert text.startswith(f'<div class="xp" data-explorer="{name}">')
    assert not re.search(r" at 0x[0-9a-f]+|\bid=", text)
    data = json.loads(re.search(r'<script type="application/json" class="xp-data">'
                                r"(.*?)</script>", text).group(1))
    links = {cell: linked for case in data["cases"]
             for cell, linked in case["links"].items()}
    assert links == explorer_links(name)
    clickable = re.findall(
        r'role="gridcell" class="xp-cell[^"]*" data-cell="([^"]+)"', text)
    assert sorted(clickable) == sorted(links) and len(set(clickable)) == len(clickable)
    every = set(re.findall(r'data-cell="([^"]+)"', text))
    assert all(set(linked) <= every for linked in links.values())
    assert show_explorer(name).data == text


def test_unknown_figure_is_refused():
    with pytest.raises(ValueError, match="name must be one of"):
        explorer_data("conv-sideways")
