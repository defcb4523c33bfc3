"""A whole LeNet-5 training step as a benchmark case.

Document 2's network (``nn.Conv2d(1, 6, 5)`` -> ReLU -> 2x2 max pool ->
``nn.Conv2d(6, 16, 5)`` -> ReLU -> pool -> ``Linear(400, 120)`` -> ReLU ->
``Linear(120, 84)`` -> ReLU -> ``Linear(84, 10)``, cross-entropy loss, SGD with
learning rate 0.001 and momentum 0.9) on a batch of 1x32x32 images. One step is
forward, loss, backward and the optimizer update, three ways:

``companion``
    The package's functional API (:mod:`companion.functional.conv`,
    :mod:`companion.functional.pooling`, :mod:`companion.functional.dense`,
    :mod:`companion.functional.activations`, :mod:`companion.functional.losses`,
    :class:`companion.optim.SGD`), exactly as a chapter would write it.
``numpy``
    The NumPy reference layers of :mod:`benchmarks.reference` with NumPy
    dense layers, ReLU, softmax cross-entropy and SGD written out.
``torch``
    ``torch.nn`` with ``torch.optim.SGD`` (when torch is importable).
``companion[blas1]``
    The companion step with NumPy's OpenBLAS limited to one thread for the
    whole step (the dense layers' products included), as the package's
    thread policy does inside its own calls (:mod:`companion._threads`).

All three start from the same parameters; before timing, one step of each is
run from that start and the losses and updated parameters are compared (an
``AssertionError`` if they disagree). The timed calls then keep training on
the same batch.
"""
from __future__ import annotations

import numpy as np

from benchmarks import reference
from benchmarks.cases import Case
from companion import _blas

__all__ = ["lenet5_parameters", "lenet5_training_case"]

LR, MOMENTUM = 0.001, 0.9


def lenet5_parameters(rng, dtype=np.float32) -> dict[str, np.ndarray]:
    """PyTorch-style initial parameters (uniform in +-1/sqrt(fan_in)).

    Dense weights are stored ``(D, M)`` as :func:`companion.functional.dense.dense_forward`
    takes them (the transpose of ``torch.nn.Linear.weight``).
    """
    shapes = {"conv1.w": (6, 1, 5, 5), "conv1.b": (6,), "conv2.w": (16, 6, 5, 5),
              "conv2.b": (16,), "fc1.w": (400, 120), "fc1.b": (120,), "fc2.w": (120, 84),
              "fc2.b": (84,), "fc3.w": (84, 10), "fc3.b": (10,)}
    fan_in = {"conv1": 25, "conv2": 150, "fc1": 400, "fc2": 120, "fc3": 84}
    params = {}
    for key, shape in shapes.items():
        bound = 1.0 / np.sqrt(fan_in[key.split(".")[0]])
        params[key] = rng.uniform(-bound, bound, shape).astype(dtype)
    return params


# ---------------------------------------------------------------------------
# companion
# ---------------------------------------------------------------------------

def _companion_step_factory(params, x, y):
    from companion.functional import relu_backward, relu_forward
    from companion.functional import conv2d_backward, conv2d_forward
    from companion.functional import dense_backward, dense_forward
    from companion.functional import cross_entropy_loss
    from companion.optim import SGD
    from companion.functional import max_pool2d_backward, max_pool2d_forward

    opt = SGD(lr=LR, momentum=MOMENTUM)

    def step():
        p = params
        h1, c1 = conv2d_forward(x, p["conv1.w"], p["conv1.b"])
        a1, r1 = relu_forward(h1)
        s1, m1 = max_pool2d_forward(a1, 2, 2)
        h2, c2 = conv2d_forward(s1, p["conv2.w"], p["conv2.b"])
        a2, r2 = relu_forward(h2)
        s2, m2 = max_pool2d_forward(a2, 2, 2)
        flat = s2.reshape(len(x), -1)
        h3, d3 = dense_forward(flat, p["fc1.w"], p["fc1.b"])
        a3, r3 = relu_forward(h3)
        h4, d4 = dense_forward(a3, p["fc2.w"], p["fc2.b"])
        a4, r4 = relu_forward(h4)
        logits, d5 = dense_forward(a4, p["fc3.w"], p["fc3.b"])
        loss, g = cross_entropy_loss(logits, y)
        grads = {}
        g, grads["fc3.w"], grads["fc3.b"] = dense_backward(g, d5)
        g, grads["fc2.w"], grads["fc2.b"] = dense_backward(relu_backward(g, r4), d4)
        g, grads["fc1.w"], grads["fc1.b"] = dense_backward(relu_backward(g, r3), d3)
        g = max_pool2d_backward(g.reshape(s2.shape), m2)
        g, grads["conv2.w"], grads["conv2.b"] = conv2d_backward(relu_backward(g, r2), c2)
        g = max_pool2d_backward(g, m1)
        _, grads["conv1.w"], grads["conv1.b"] = conv2d_backward(relu_backward(g, r1), c1,
                                                                input_grad=False)
        opt.step(p, grads)
        return loss

    return step


# ---------------------------------------------------------------------------
# NumPy reference
# ---------------------------------------------------------------------------

def _numpy_step_factory(params, x, y):
    velocity = {key: np.zeros_like(value) for key, value in params.items()}

    def step():
        p = params
        h1, c1 = reference.conv2d_forward(x, p["conv1.w"], p["conv1.b"])
        a1 = np.maximum(h1, 0)
        s1, m1 = reference.max_pool2d_forward(a1)
        h2, c2 = reference.conv2d_forward(s1, p["conv2.w"], p["conv2.b"])
        a2 = np.maximum(h2, 0)
        s2, m2 = reference.max_pool2d_forward(a2)
        flat = s2.reshape(len(x), -1)
        h3 = flat @ p["fc1.w"] + p["fc1.b"]
        a3 = np.maximum(h3, 0)
        h4 = a3 @ p["fc2.w"] + p["fc2.b"]
        a4 = np.maximum(h4, 0)
        logits = a4 @ p["fc3.w"] + p["fc3.b"]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(len(x))
        loss = -float(log_p[rows, y].mean())
        g = np.exp(log_p)
        g[rows, y] -= 1
        g /= len(x)
        grads = {"fc3.w": a4.T @ g, "fc3.b": g.sum(axis=0)}
        g = (g @ p["fc3.w"].T) * (h4 > 0)
        grads["fc2.w"], grads["fc2.b"] = a3.T @ g, g.sum(axis=0)
        g = (g @ p["fc2.w"].T) * (h3 > 0)
        grads["fc1.w"], grads["fc1.b"] = flat.T @ g, g.sum(axis=0)
        g = (g @ p["fc1.w"].T).reshape(s2.shape)
        g = reference.max_pool2d_backward(g, m2) * (h2 > 0)
        g, grads["conv2.w"], grads["conv2.b"] = reference.conv2d_backward(g, c2)
        g = reference.max_pool2d_backward(g, m1) * (h1 > 0)
        _, grads["conv1.w"], grads["conv1.b"] = reference.conv2d_backward(g, c1)
        for key, grad in grads.items():
            velocity[key] = MOMENTUM * velocity[key] + grad
            p[key] -= LR * velocity[key]
        return loss

    return step


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------

def _torch_step_factory(torch, params, x, y):
    nn = torch.nn

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, z):
            z = self.pool(nn.functional.relu(self.conv1(z)))
            z = self.pool(nn.functional.relu(self.conv2(z)))
            z = torch.flatten(z, 1)
            z = nn.functional.relu(self.fc1(z))
            z = nn.functional.relu(self.fc2(z))
            return self.fc3(z)

    model = LeNet5()
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            layer, kind = name.split(".")
            value = params[f"{layer}.{'w' if kind == 'weight' else 'b'}"]
            if layer.startswith("fc") and kind == "weight":
                value = value.T
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    tx = torch.from_numpy(np.ascontiguousarray(x))
    ty = torch.from_numpy(y.astype(np.int64))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(tx), ty)
        loss.backward()
        optimizer.step()
        return loss.item()

    def weights():
        out = {}
        for name, tensor in model.named_parameters():
            layer, kind = name.split(".")
            value = tensor.detach().numpy()
            out[f"{layer}.{'w' if kind == 'weight' else 'b'}"] = \
                value.T if layer.startswith("fc") and kind == "weight" else value
        return out

    return step, weights


def _compare(name, loss, params, ref_loss, ref_params, tol):
    if abs(loss - ref_loss) > tol * max(1.0, abs(ref_loss)):
        raise AssertionError(f"LeNet-5 step: {name} loss {loss} differs from the reference "
                             f"{ref_loss}")
    for key, value in ref_params.items():
        err = float(np.max(np.abs(np.asarray(params[key], np.float64) - value)))
        if err > tol * max(1e-30, float(np.max(np.abs(value)))):
            raise AssertionError(f"LeNet-5 step: {name} parameter {key} differs from the "
                                 f"reference after one step (error {err:.2e})")


def lenet5_training_case(*, batch: int = 64, dtype=np.float32, torch=None,
                         seed: int = 0) -> Case:
    """The timed case: one LeNet-5 training step, per implementation.

    Each implementation gets its own copy of the same initial parameters, and
    its first step is checked against the NumPy reference before timing.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 1, 32, 32)).astype(dtype)
    y = rng.integers(0, 10, batch)
    start = lenet5_parameters(rng, dtype)
    tol = 2e-3 if np.dtype(dtype) == np.float32 else 1e-9

    ref_params = {k: v.copy() for k, v in start.items()}
    ref_loss = _numpy_step_factory(ref_params, x, y)()

    ours = {k: v.copy() for k, v in start.items()}
    companion_step = _companion_step_factory(ours, x, y)
    _compare("companion", companion_step(), ours, ref_loss, ref_params, tol)
    impls = {"companion": companion_step,
             "numpy": _numpy_step_factory({k: v.copy() for k, v in start.items()}, x, y)}
    if _blas.BLAS_AVAILABLE:
        # The same step with NumPy's OpenBLAS single-threaded throughout (the package's
        # thread policy, companion._threads, applied to the dense layers' products too).
        inner = _companion_step_factory({k: v.copy() for k, v in start.items()}, x, y)

        def companion_blas1():
            with _blas.single_threaded_blas():
                return inner()

        impls["companion[blas1]"] = companion_blas1
    if torch is not None:
        torch_step, torch_weights = _torch_step_factory(torch, start, x, y)
        _compare("torch", torch_step(), torch_weights(), ref_loss, ref_params, tol)
        impls["torch"] = torch_step
    flops = 3 * 2 * batch * (6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84
                             + 84 * 10)
    return Case("functional API", "LeNet-5 step", impls, note="auto", flops=flops,
                summed=False)
