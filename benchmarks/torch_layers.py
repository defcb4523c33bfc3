"""The benchmark layers in PyTorch (CPU), for comparison; optional.

:func:`load_torch` returns the ``torch`` module, or ``None`` when it is not
installed. PyTorch is never a requirement of the course. Its thread count is
set to Numba's so both use the same cores.
"""
from __future__ import annotations

import numpy as np

__all__ = ["load_torch", "autograd_step", "conv2d_step", "max_pool2d_step", "avg_pool2d_step"]


def load_torch(num_threads: int):
    """Import torch and set its intra-op thread count; ``None`` if unavailable."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(num_threads)
    return torch


def autograd_step(torch, fn, args, dout, grads_of):
    """A callable: ``out = fn(*args)`` in PyTorch, then ``(out, *grads)``.

    ``args`` are NumPy arrays (turned into tensors once, here), ``dout`` the
    upstream gradient, ``grads_of`` the positions of the arguments whose
    gradients are returned, in that order.
    """
    tensors = [torch.from_numpy(np.ascontiguousarray(a)).requires_grad_(i in grads_of)
               for i, a in enumerate(args)]
    wrt = [tensors[i] for i in grads_of]
    td = torch.from_numpy(np.ascontiguousarray(dout))

    def step():
        out = fn(*tensors)
        return (out,) + torch.autograd.grad(out, wrt, td)

    return step


def conv2d_step(torch, x, w, b, dout, stride, padding):
    """A callable: conv2d forward, then gradients with respect to x, w and b."""
    conv = torch.nn.functional.conv2d
    return autograd_step(torch, lambda tx, tw, tb: conv(tx, tw, tb, stride=stride,
                                                         padding=padding),
                         (x, w, b), dout, (0, 1, 2))


def _pool2d_step(torch, pool, x, dout, size, stride):
    """A callable: ``pool`` forward, then the gradient with respect to x."""
    return autograd_step(torch, lambda tx: pool(tx, size, stride), (x,), dout, (0,))


def max_pool2d_step(torch, x, dout, size, stride):
    """A callable: max_pool2d forward, then the gradient with respect to x."""
    return _pool2d_step(torch, torch.nn.functional.max_pool2d, x, dout, size, stride)


def avg_pool2d_step(torch, x, dout, size, stride):
    """A callable: avg_pool2d forward, then the gradient with respect to x."""
    return _pool2d_step(torch, torch.nn.functional.avg_pool2d, x, dout, size, stride)
