"""companion.teaching.graph_explorer: chapter 5's interactive computational graph.

Every node's gradient is held to central differences of the loss (an intermediate
node's value shifted, its inputs held fixed), the fan-out's two contributions to
the chain rule of each path and to their sum, and the links to the graph itself."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from companion.functional import sigmoid_forward
from companion.teaching import (
    GRAPH_EXPLORER,
    graph_backward,
    graph_data,
    graph_forward,
    graph_html,
    graph_links,
    numerical_gradient,
    relative_error,
    show_graph,
)
from companion.teaching.graph_explorer import GRAPH, GRAPH_INPUTS, consumers, fmt

NAMES = [name for name, *_ in GRAPH]


def _loss_shifted(name):
    """L as a function of a 1-element array: node ``name``'s value shifted by it."""
    return lambda e: graph_forward(shift={name: e[0]})["L"]


def _number(text):
    return float(text.replace("\u2212", "-"))


def test_forward_values_are_the_chapter_formulas():
    v = graph_forward()
    x, w, b, t = (GRAPH_INPUTS[k] for k in "xwbt")
    z = w * x + b
    s = 1 / (1 + np.exp(-z))
    assert v["u"] == w * x and v["z"] == z
    assert v["s"] == pytest.approx(s, rel=1e-15)
    assert v["s"] == float(sigmoid_forward(np.array([z]))[0][0])
    assert v["a"] == pytest.approx(z * s, rel=1e-15)
    assert v["L"] == pytest.approx(0.5 * (z * s - t) ** 2, rel=1e-14)
    # the chapter's neuron: u, z as printed in its first cell
    assert (fmt(v["u"]), fmt(v["z"]), fmt(v["s"])) == ("\u22121.200", "\u22120.800",
                                                       "0.310")


def test_graph_is_topologically_ordered_and_z_is_the_only_fan_out():
    seen = set()
    for name, op, args, *_ in GRAPH:
        assert set(args) <= seen and len(set(args)) == len(args)
        seen.add(name)
    fan = {name for name, used in consumers().items() if len(used) > 1}
    assert fan == {"z"} and consumers()["z"] == ["s", "a"]


@pytest.mark.parametrize("name", NAMES)
def test_every_node_gradient_matches_finite_differences(name):
    grads, _ = graph_backward(graph_forward())
    numeric = numerical_gradient(_loss_shifted(name), np.zeros(1), richardson=True)
    assert relative_error(np.array([grads[name]]), numeric) < 1e-9, \
        (name, grads[name], numeric)


def test_input_gradients_match_finite_differences_of_the_inputs():
    grads, _ = graph_backward(graph_forward())

    def loss(v):
        return graph_forward(inputs=dict(zip("xwbt", v)))["L"]

    point = np.array([GRAPH_INPUTS[k] for k in "xwbt"])
    numeric = numerical_gradient(loss, point, richardson=True)
    assert relative_error(np.array([grads[k] for k in "xwbt"]), numeric) < 1e-9


def test_fan_out_gradients_add():
    """z feeds s = σ(z) and a = z·s: ∂L/∂z is the sum of the two paths, each path
    alone is wrong, and each term is that path's chain rule."""
    v = graph_forward()
    grads, sent = graph_backward(v)
    dL_da = v["a"] - GRAPH_INPUTS["t"]
    direct = dL_da * v["s"]                         # a = z·s with s held fixed
    through_sigma = dL_da * v["z"] * v["s"] * (1 - v["s"])
    assert sent["z", "a"] == pytest.approx(direct, rel=1e-14)
    assert sent["z", "s"] == pytest.approx(through_sigma, rel=1e-14)
    assert grads["z"] == sent["z", "a"] + sent["z", "s"]
    numeric = numerical_gradient(_loss_shifted("z"), np.zeros(1), richardson=True)[0]
    assert relative_error(grads["z"], numeric) < 1e-9
    for one_path in (direct, through_sigma):
        assert relative_error(one_path, numeric) > 0.3
    # each path measured on its own: shift z only where s reads it, or only where a
    # reads it (as if z were two copies)
    def only(reader):
        def loss(e):
            z = v["z"]
            s = float(sigmoid_forward(np.array([z + (e[0] if reader == "s" else 0)]))
                      [0][0])
            a = (z + (e[0] if reader == "a" else 0)) * s
            return 0.5 * (a - GRAPH_INPUTS["t"]) ** 2
        return loss

    for reader in ("s", "a"):
        path = numerical_gradient(only(reader), np.zeros(1), richardson=True)[0]
        assert relative_error(sent["z", reader], path) < 1e-9
    # the figure shows the two terms and their sum
    z = next(n for n in graph_data()["nodes"] if n["name"] == "z")
    terms = [_number(t.strip("() ")) for t in z["sum"].split(" + ")]
    assert terms == [round(sent["z", "s"], 3), round(sent["z", "a"], 3)]
    assert _number(z["grad"]) == round(grads["z"], 3)


def test_every_other_node_has_one_consumer_and_no_sum():
    grads, sent = graph_backward(graph_forward())
    for node in graph_data()["nodes"]:
        used = consumers()[node["name"]]
        if len(used) == 1:
            assert grads[node["name"]] == sent[node["name"], used[0]]
        assert bool(node["sum"]) == (len(used) > 1)


def test_figure_values_and_gradients_are_the_computed_ones():
    values = graph_forward()
    grads, sent = graph_backward(values)
    data = graph_data()
    for node in data["nodes"]:
        assert _number(node["value"]) == round(values[node["name"]], 3)
        assert _number(node["grad"]) == round(grads[node["name"]], 3)
    for edge in data["edges"]:
        p, q = edge["id"].split(":")[1].split("-")
        assert _number(edge["grad"]) == round(sent[p, q], 3)


def test_steps_run_forward_in_topological_order_then_backward_in_reverse():
    data = graph_data()
    order = [f"silu/node:{n}" for n in NAMES]
    assert data["forward"] == order and data["backward"] == order[::-1]
    assert [s["node"] for s in data["steps"]["forward"]] == data["forward"]
    assert [s["node"] for s in data["steps"]["backward"]] == data["backward"]
    fan = next(s for s in data["steps"]["backward"] if s["node"] == "silu/node:z")
    assert fan["edges"] == ["silu/edge:z-s", "silu/edge:z-a"]
    assert all(word in fan["text"] for word in ("add", "0.214", "\u22120.387"))
    for step in data["steps"]["forward"] + data["steps"]["backward"]:
        assert step["text"] and set(step["edges"]) <= {e["id"] for e in data["edges"]}


def test_links_are_the_inputs_and_consumers_of_each_node():
    links, notes = graph_links(), graph_data()["notes"]
    assert set(links) == {f"silu/node:{n}" for n in NAMES}
    for name, _, args, *_ in GRAPH:
        want = {f"silu/node:{a}": "in" for a in args}
        want |= {f"silu/edge:{a}-{name}": "in" for a in args}
        for q in consumers()[name]:
            want[f"silu/node:{q}"] = want[f"silu/edge:{name}-{q}"] = "out"
        assert links[f"silu/node:{name}"] == sorted(want)
        assert notes[f"silu/node:{name}"] == want
    assert links["silu/node:z"] == sorted(
        ["silu/node:u", "silu/node:b", "silu/node:s", "silu/node:a", "silu/edge:u-z",
         "silu/edge:b-z", "silu/edge:z-s", "silu/edge:z-a"])


def test_html_holds_the_contract_and_is_deterministic():
    text = graph_html()
    assert text == graph_html() and show_graph().data == text
    assert text.startswith(f'<div class="xp gx" data-explorer="{GRAPH_EXPLORER}">')
    assert not re.search(r" at 0x[0-9a-f]+|\bid=|\d{4}-\d\d-\d\d", text)
    data = json.loads(re.search(r'<script type="application/json" class="xp-data">'
                                r"(.*?)</script>", text).group(1))
    assert data == json.loads(json.dumps(graph_data()))
    nodes = re.findall(r'role="option" class="gx-node[^"]*" data-cell="([^"]+)"', text)
    assert nodes == data["forward"]
    every = set(re.findall(r'data-cell="([^"]+)"', text))
    assert every == set(nodes) | {e["id"] for e in data["edges"]}
    assert all(set(linked) <= every for linked in data["links"].values())
    for kind in ("forward", "backward", "reset"):
        assert f'data-step-button="{kind}"' in text
    assert 'aria-live="polite"' in text and text.count('tabindex="0"') == 1
