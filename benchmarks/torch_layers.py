"""The benchmark layers in PyTorch (CPU), for comparison; optional.

:func:`load_torch` returns the ``torch`` module, or ``None`` when it is not
installed. PyTorch is never a requirement of the course. Its thread count is
set to Numba's so both use the same cores.
"""
from __future__ import annotations

import numpy as np

__all__ = ["load_torch", "conv2d_step", "max_pool2d_step", "avg_pool2d_step"]


def load_torch(num_threads: int):
    """Import torch and set its intra-op thread count; ``None`` if unavailable."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(num_threads)
    return torch


def _tensor(torch, a, grad=True):
    return torch.from_numpy(np.ascontiguousarray(a)).requires_grad_(grad)


def conv2d_step(torch, x, w, b, dout, stride, padding):
    """A callable: conv2d forward, then gradients with respect to x, w and b."""
    tx, tw, tb = _tensor(torch, x), _tensor(torch, w), _tensor(torch, b)
    td = _tensor(torch, dout, grad=False)
    conv = torch.nn.functional.conv2d

    def step():
        out = conv(tx, tw, tb, stride=stride, padding=padding)
        return torch.autograd.grad(out, (tx, tw, tb), td)

    return step


def _pool2d_step(torch, pool, x, dout, size, stride):
    """A callable: ``pool`` forward, then the gradient with respect to x."""
    tx, td = _tensor(torch, x), _tensor(torch, dout, grad=False)

    def step():
        return torch.autograd.grad(pool(tx, size, stride), (tx,), td)

    return step


def max_pool2d_step(torch, x, dout, size, stride):
    """A callable: max_pool2d forward, then the gradient with respect to x."""
    return _pool2d_step(torch, torch.nn.functional.max_pool2d, x, dout, size, stride)


def avg_pool2d_step(torch, x, dout, size, stride):
    """A callable: avg_pool2d forward, then the gradient with respect to x."""
    return _pool2d_step(torch, torch.nn.functional.avg_pool2d, x, dout, size, stride)
