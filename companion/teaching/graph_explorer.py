"""Data of chapter 5's interactive computational graph: values forward, gradients back.

The graph is the chapter's neuron, ``u = w x``, ``z = u + b``, with the SiLU of the
chapter's fan-out example as its activation, ``a = z σ(z)``, and the squared error
``L = ½ (a - t)²`` against the target ``t``, at the chapter's point
``x = 1.5``, ``w = -0.8``, ``b = 0.4``, ``t = 1``. The value ``z`` is used twice
(by the sigmoid and by the product ``z s``): in the backward pass the two
gradients that come back to it add.

:func:`graph_forward` evaluates the nodes in topological order (the sigmoid with
the package's :func:`~companion.functional.sigmoid_forward`), :func:`graph_backward`
runs the backward pass in the reverse order (the sigmoid's local gradient with
:func:`~companion.functional.sigmoid_backward`) and keeps the gradient each node
sends back along each of its input edges. :func:`graph_data` turns both into the
figure's data (display text, step sentences, links), which
:mod:`~companion.teaching.graph_explorer_html` renders.

A node is named ``"silu/node:<name>"`` and the edge from ``p`` to ``q``
``"silu/edge:<p>-<q>"``.
"""
from __future__ import annotations

import numpy as np

from companion.functional import sigmoid_backward, sigmoid_forward

__all__ = ["GRAPH", "GRAPH_EXPLORER", "GRAPH_INPUTS", "graph_backward", "graph_data",
           "graph_forward", "graph_links"]

#: The figure's name (its ``data-explorer``).
GRAPH_EXPLORER = "backprop-graph"

#: The chapter's point: input, weight, bias and target.
GRAPH_INPUTS = {"x": 1.5, "w": -0.8, "b": 0.4, "t": 1.0}

#: The nodes in topological order: name, operation, inputs, column, row, formula.
GRAPH = (
    ("x", "input", (), 0, 0, "input x"),
    ("w", "input", (), 0, 2, "weight w"),
    ("u", "mul", ("w", "x"), 1, 1, "u = w\u00b7x"),
    ("b", "input", (), 1, 2, "bias b"),
    ("z", "add", ("u", "b"), 2, 1, "z = u + b"),
    ("s", "sigmoid", ("z",), 3, 0, "s = \u03c3(z)"),
    ("a", "mul", ("z", "s"), 4, 1, "a = z\u00b7s"),
    ("t", "input", (), 4, 2, "target t"),
    ("L", "loss", ("a", "t"), 5, 1, "L = \u00bd(a \u2212 t)\u00b2"),
)

KEY = "silu"
OUTPUT = GRAPH[-1][0]


def _sigmoid(z):
    out, cache = sigmoid_forward(np.array([float(z)]))
    return float(out[0]), cache


def graph_forward(inputs=None, shift=None):
    """The value of every node, in topological order.

    Parameters
    ----------
    inputs : dict, optional
        Values of the input nodes (default :data:`GRAPH_INPUTS`).
    shift : dict, optional
        ``{name: h}``: add ``h`` to node ``name``'s value right after computing it,
        before its consumers read it (a finite difference of ``L`` with respect
        to an intermediate node, its inputs held fixed).

    Returns
    -------
    dict
        ``{name: float}``, in the order of :data:`GRAPH`.
    """
    given = dict(GRAPH_INPUTS, **(inputs or {}))
    shift = shift or {}
    values = {}
    for name, op, args, *_ in GRAPH:
        v = [values[a] for a in args]
        if op == "input":
            out = float(given[name])
        elif op == "mul":
            out = v[0] * v[1]
        elif op == "add":
            out = v[0] + v[1]
        elif op == "sigmoid":
            out = _sigmoid(v[0])[0]
        else:                                                  # "loss"
            out = 0.5 * (v[0] - v[1]) ** 2
        values[name] = out + float(shift.get(name, 0.0))
    return values


def _local(op, v, grad):
    """What a node with upstream gradient ``grad`` sends to each of its inputs."""
    if op == "mul":
        return [grad * v[1], grad * v[0]]
    if op == "add":
        return [grad, grad]
    if op == "sigmoid":
        return [float(sigmoid_backward(np.array([grad]), _sigmoid(v[0])[1])[0])]
    if op == "loss":
        return [grad * (v[0] - v[1]), -grad * (v[0] - v[1])]
    return []


def consumers():
    """``{name: [the nodes that read it, in topological order]}``."""
    used = {name: [] for name, *_ in GRAPH}
    for name, _, args, *_ in GRAPH:
        for a in args:
            used[a].append(name)
    return used


def graph_backward(values):
    """The backward pass over the graph, in reverse topological order.

    Parameters
    ----------
    values : dict
        :func:`graph_forward`'s result.

    Returns
    -------
    grads : dict
        ``{name: ∂L/∂name}``; ``∂L/∂L = 1``.
    sent : dict
        ``{(p, q): g}``: the gradient node ``q`` sends back to its input ``p``
        (``∂L/∂q`` times ``q``'s local gradient with respect to ``p``).
        ``grads[p]`` is the sum of ``sent[p, q]`` over the consumers ``q`` of
        ``p``: two terms for ``z``.
    """
    used = consumers()
    grads, sent = {}, {}
    for name, op, args, *_ in reversed(GRAPH):
        if name == OUTPUT:
            grads[name] = 1.0
        else:
            grads[name] = sum(sent[name, q] for q in used[name])
        for a, g in zip(args, _local(op, [values[a] for a in args], grads[name])):
            sent[a, name] = g
    return grads, sent


def fmt(value) -> str:
    """A value for display: 3 decimals, a real minus sign, never ``-0.000``."""
    return f"{round(float(value), 3) + 0.0:.3f}".replace("-", "\u2212")


def _operand(value) -> str:
    text = fmt(value)
    return f"({text})" if value < 0 else text


def node_id(name) -> str:
    return f"{KEY}/node:{name}"


def edge_id(p, q) -> str:
    return f"{KEY}/edge:{p}-{q}"


def _forward_text(name, op, args, values):
    v, out = [values[a] for a in args], fmt(values[name])
    if op == "input":
        return f"{name} = {out} is an input: nothing to compute."
    if op == "mul":
        return (f"{name} = {args[0]}\u00b7{args[1]} = {fmt(v[0])}\u00b7"
                f"{_operand(v[1])} = {out}")
    if op == "add":
        return (f"{name} = {args[0]} + {args[1]} = {fmt(v[0])} + "
                f"{_operand(v[1])} = {out}")
    if op == "sigmoid":
        return f"{name} = \u03c3({args[0]}) = \u03c3({fmt(v[0])}) = {out}"
    return f"{name} = \u00bd({args[0]} \u2212 {args[1]})\u00b2 = \u00bd({fmt(v[0])} " \
           f"\u2212 {fmt(v[1])})\u00b2 = {out}"


def _sends_text(name, op, args, values, grads, sent):
    """What node ``name`` sends back to its inputs, as a clause."""
    g, v = fmt(grads[name]), [values[a] for a in args]
    c = [fmt(sent[a, name]) for a in args]
    if op == "mul":
        return (f"; \u00d7 sends {g}\u00b7{_operand(v[1])} = {c[0]} to {args[0]} and "
                f"{g}\u00b7{_operand(v[0])} = {c[1]} to {args[1]}")
    if op == "add":
        return f"; + passes {g} unchanged to {args[0]} and {args[1]}"
    if op == "sigmoid":
        return (f"; \u03c3 sends {g}\u00b7s(1 \u2212 s) = {g}\u00b7"
                f"{fmt(values[name] * (1 - values[name]))} = {c[0]} to {args[0]}")
    if op == "loss":
        return (f"; it sends a \u2212 t = {c[0]} to a and \u2212(a \u2212 t) = "
                f"{c[1]} to t")
    return ""


def _received_text(name, grads, sent, formulas):
    used = consumers()[name]
    g = fmt(grads[name])
    if not used:
        return f"\u2202L/\u2202{name} = {g}: the backward pass starts at the output"
    if len(used) == 1:
        return (f"\u2202L/\u2202{name} = {g}, received from "
                f"{formulas[used[0]]}")
    terms = " + ".join(f"{_operand(sent[name, q]) if i else fmt(sent[name, q])} "
                       f"(from {formulas[q]})" for i, q in enumerate(used))
    return (f"\u2202L/\u2202{name} = {terms} = {g}: {name} feeds {len(used)} nodes, "
            f"so the gradients coming back along its {len(used)} edges add")


def _links(name, args, used):
    links = {}
    for a in args:
        links[node_id(a)] = links[edge_id(a, name)] = "in"
    for q in used:
        links[node_id(q)] = links[edge_id(name, q)] = "out"
    return links


def graph_data():
    """The figure's data.

    Returns
    -------
    dict
        ``name``, ``key``, ``nodes`` (id, name, kind, column, row, formula and the
        display text of its value, its gradient and, where it has several
        consumers, the sum of what they send), ``edges`` (id, source, target and
        the gradient sent back along it), ``forward`` and ``backward`` (the node
        ids in step order), ``steps`` (``{"forward": [...], "backward": [...]}``,
        each step a node id, the edges it uses and its sentence), ``links``
        (every node: the sorted ids of the nodes and edges it reads or feeds),
        ``notes`` (``"in"`` or ``"out"`` for each of them) and ``details``.
    """
    values = graph_forward()
    grads, sent = graph_backward(values)
    used = consumers()
    formulas = {name: formula for name, *_, formula in GRAPH}
    nodes, edges, links, notes, details = [], [], {}, {}, {}
    steps = {"forward": [], "backward": []}
    for name, op, args, col, row, formula in GRAPH:
        kind = "input" if op == "input" else "output" if name == OUTPUT else "op"
        fan = used[name] if len(used[name]) > 1 else []
        total = " + ".join(fmt(sent[name, q]) if not i else _operand(sent[name, q])
                           for i, q in enumerate(fan))
        nodes.append({"id": node_id(name), "name": name, "kind": kind, "col": col,
                      "row": row, "formula": formula, "value": fmt(values[name]),
                      "grad": fmt(grads[name]), "sum": total})
        edges += [{"id": edge_id(a, name), "source": node_id(a),
                   "target": node_id(name), "grad": fmt(sent[a, name])}
                  for a in args]
        linked = _links(name, args, used[name])
        links[node_id(name)] = sorted(linked)
        notes[node_id(name)] = dict(sorted(linked.items()))
        reads = ", ".join(args) or "nothing (an input)"
        feeds = ", ".join(used[name]) or "nothing (the output)"
        details[node_id(name)] = (
            f"{formula}: value {fmt(values[name])}, gradient \u2202L/\u2202{name} = "
            f"{fmt(grads[name])}. It reads {reads} and feeds {feeds}."
            + (f" Its gradient is the sum of the {len(fan)} that come back: "
               f"{total} = {fmt(grads[name])}." if fan else ""))
        steps["forward"].append({"node": node_id(name),
                                 "edges": [edge_id(a, name) for a in args],
                                 "text": _forward_text(name, op, args, values)})
    for name, op, args, *_ in reversed(GRAPH):
        text = (_received_text(name, grads, sent, formulas)
                + _sends_text(name, op, args, values, grads, sent) + ".")
        steps["backward"].append({"node": node_id(name),
                                  "edges": [edge_id(name, q) for q in used[name]],
                                  "text": text})
    return {"name": GRAPH_EXPLORER, "key": KEY, "nodes": nodes, "edges": edges,
            "forward": [s["node"] for s in steps["forward"]],
            "backward": [s["node"] for s in steps["backward"]],
            "steps": steps, "links": links, "notes": notes, "details": details}


def graph_links():
    """Every node of the figure: the sorted ids of the nodes and edges it links to."""
    return graph_data()["links"]
