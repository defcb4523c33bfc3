"""What the benchmark times: the layers of two networks, as :class:`Case` objects.

A :class:`Case` is one workload (say, forward + backward of LeNet-5's first
convolution at batch 64) with one zero-argument callable per implementation
(``"companion"``, ``"numpy"``, ``"torch"``, or variants such as
``"companion[direct]"``). :func:`network_cases` builds the cases of the
conv and pool layers of a :class:`Network`; a later benchmark (a whole
training step) only has to build more cases.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from benchmarks import reference
from companion.functional import choose_algorithm, conv2d_backward, conv2d_forward
from companion.functional import max_pool2d_backward, max_pool2d_forward

__all__ = ["Case", "Layer", "Network", "LENET5", "NET32", "NETWORKS", "conv_case", "network_cases",
           "pool_case"]


@dataclass
class Case:
    """One timed workload with one callable per implementation."""

    name: str
    group: str
    implementations: dict[str, Callable[[], object]]
    note: str = ""
    flops: float = 0.0
    summed: bool = True      # part of its group's SUM row (layers of one network)


@dataclass(frozen=True)
class Layer:
    """A conv layer (``filters``, ``kernel``, ``padding``) or a max-pool layer (``kernel``)."""

    name: str
    kind: str            # "conv" or "maxpool"
    filters: int = 0
    kernel: int = 2
    stride: int = 1
    padding: int = 0


@dataclass(frozen=True)
class Network:
    """Input shape (without the batch) and the conv/pool layers, in order."""

    name: str
    input_shape: tuple
    layers: tuple = field(default_factory=tuple)


LENET5 = Network("LeNet-5", (1, 32, 32), (
    Layer("conv1 6@5x5", "conv", filters=6, kernel=5),
    Layer("pool1 2x2", "maxpool", kernel=2, stride=2),
    Layer("conv2 16@5x5", "conv", filters=16, kernel=5),
    Layer("pool2 2x2", "maxpool", kernel=2, stride=2),
))

NET32 = Network("32x32x3 net", (3, 32, 32), (
    Layer("conv1 32@3x3 p1", "conv", filters=32, kernel=3, padding=1),
    Layer("pool1 2x2", "maxpool", kernel=2, stride=2),
    Layer("conv2 64@3x3 p1", "conv", filters=64, kernel=3, padding=1),
    Layer("pool2 2x2", "maxpool", kernel=2, stride=2),
))

NETWORKS = {"lenet": LENET5, "net32": NET32}


def _check_close(name, ours, theirs, dtype):
    tol = 2e-3 if dtype == np.float32 else 1e-9
    for a, b in zip(ours, theirs):
        scale = max(float(np.max(np.abs(b))), 1e-30)
        err = float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) / scale
        if err > tol:
            raise AssertionError(f"{name}: companion and the NumPy reference differ "
                                 f"(relative error {err:.2e})")


def _reference_results(torch, fn, args, dout, grads_of):
    """Forward output and gradients from PyTorch (the check of cases too big for NumPy)."""
    from benchmarks.torch_layers import autograd_step
    return tuple(t.detach().numpy() for t in autograd_step(torch, fn, args, dout,
                                                            grads_of)())


def conv_case(group, layer, x, rng, dtype, torch, algorithms=(), numpy=True):
    """Forward + backward of the conv ``layer`` on ``x``: a :class:`Case` and the output.

    Checked against the NumPy reference (``numpy=True``, which is also timed)
    or, for shapes too large for it, against PyTorch when available.
    """
    C = x.shape[1]
    F, K = layer.filters, layer.kernel
    w = (rng.standard_normal((F, C, K, K)) / np.sqrt(C * K * K)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    stride, padding = (layer.stride,) * 2, (layer.padding,) * 2
    out, cache = conv2d_forward(x, w, b, stride, padding)
    dout = rng.standard_normal(out.shape).astype(dtype)
    if numpy:
        ref_out, ref_cache = reference.conv2d_forward(x, w, b, stride, padding)
        _check_close(layer.name, (out,) + conv2d_backward(dout, cache),
                     (ref_out,) + reference.conv2d_backward(dout, ref_cache), dtype)
    elif torch is not None:
        conv = torch.nn.functional.conv2d
        _check_close(layer.name, (out,) + conv2d_backward(dout, cache),
                     _reference_results(torch, lambda a, c, d: conv(a, c, d, stride=stride,
                                                                   padding=padding),
                                        (x, w, b), dout, (0, 1, 2)), dtype)

    def companion(algorithm="auto"):
        def step():
            o, c = conv2d_forward(x, w, b, stride, padding, algorithm=algorithm)
            return conv2d_backward(dout, c)
        return step

    def numpy_step():
        o, c = reference.conv2d_forward(x, w, b, stride, padding)
        return reference.conv2d_backward(dout, c)

    impls = {"companion": companion()}
    if numpy:
        impls["numpy"] = numpy_step
    if torch is not None:
        from benchmarks.torch_layers import conv2d_step
        impls["torch"] = conv2d_step(torch, x, w, b, dout, stride, padding)
    for algorithm in algorithms:
        impls[f"companion[{algorithm}]"] = companion(algorithm)
    macs = out.size * C * K * K
    note = choose_algorithm(x.shape, w.shape)
    return Case(layer.name, group, impls, note=note, flops=3 * 2 * macs), out


def pool_case(group, layer, x, rng, dtype, torch, numpy=True):
    """Forward + backward of the max-pool ``layer`` on ``x``: a :class:`Case` and the output.

    Checked as :func:`conv_case` is.
    """
    size, stride = (layer.kernel,) * 2, (layer.stride,) * 2
    out, cache = max_pool2d_forward(x, size, stride)
    dout = rng.standard_normal(out.shape).astype(dtype)
    if numpy:
        ref_out, ref_cache = reference.max_pool2d_forward(x, size, stride)
        _check_close(layer.name, (out, max_pool2d_backward(dout, cache)),
                     (ref_out, reference.max_pool2d_backward(dout, ref_cache)), dtype)
    elif torch is not None:
        pool = torch.nn.functional.max_pool2d
        _check_close(layer.name, (out, max_pool2d_backward(dout, cache)),
                     _reference_results(torch, lambda a: pool(a, size, stride), (x,), dout,
                                        (0,)), dtype)

    def companion():
        o, c = max_pool2d_forward(x, size, stride)
        return max_pool2d_backward(dout, c)

    def numpy_step():
        o, c = reference.max_pool2d_forward(x, size, stride)
        return reference.max_pool2d_backward(dout, c)

    impls = {"companion": companion}
    if numpy:
        impls["numpy"] = numpy_step
    if torch is not None:
        from benchmarks.torch_layers import max_pool2d_step
        impls["torch"] = max_pool2d_step(torch, x, dout, size, stride)
    return Case(layer.name, group, impls, note="max"), out


def network_cases(network: Network, *, batch: int = 64, dtype=np.float32, torch=None,
                  algorithms=(), seed: int = 0) -> list[Case]:
    """One :class:`Case` per conv/pool layer of ``network`` (forward + backward).

    Each layer's input is the previous layer's output on a random batch, so
    the shapes are those of the real network (the ReLUs between layers are
    not timed). Before timing, the companion layers are checked against the
    NumPy reference (an ``AssertionError`` if they disagree).

    Parameters
    ----------
    network : Network
    batch : int
    dtype : float32 or float64
    torch : module or None
        The ``torch`` module to add PyTorch implementations, or ``None``.
    algorithms : sequence of str
        Extra companion variants with a fixed convolution algorithm
        (``"direct"``, ``"gemm"``, ``"im2col"``, ``"naive"``).
    seed : int
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch,) + tuple(network.input_shape)).astype(dtype)
    cases = []
    for layer in network.layers:
        if layer.kind == "conv":
            case, x = conv_case(network.name, layer, x, rng, dtype, torch, algorithms)
        elif layer.kind == "maxpool":
            case, x = pool_case(network.name, layer, x, rng, dtype, torch)
        else:
            raise ValueError(f"unknown layer kind {layer.kind!r}")
        cases.append(case)
    return cases
