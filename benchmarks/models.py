"""Whole networks as benchmark cases: a training step, and predicting one image.

The two networks of the course's source documents, built with the layer
objects a learner uses (:func:`companion.nn.models.lenet5`,
:func:`companion.nn.models.cnn_32x32x3`) and the same networks in ``torch.nn``
with the same starting parameters:

training step (batch ``N``)
    forward, cross-entropy loss, backward (no gradient of the images, in
    neither), SGD with momentum (learning rate 0.001, momentum 0.9) -- the
    four lines of :mod:`companion.train.loop`,
    ``optimizer.zero_grad(); loss.backward(); optimizer.step()`` in PyTorch.
    Document 1's network trains with dropout ``p = 0.5`` in both.
predicting one image
    the forward pass of one image in evaluation mode (``torch.no_grad()``
    for PyTorch): what an application or a notebook's "what does the network
    say about this digit" costs.

Before timing, one step of each implementation is run from the same
parameters with dropout off, and the losses and updated parameters are
compared (an ``AssertionError`` if they disagree).
"""
from __future__ import annotations

import numpy as np

from benchmarks.cases import Case
from companion.functional import cross_entropy_loss
from companion.nn.models import cnn_32x32x3, lenet5
from companion.optim import SGD

__all__ = ["MODELS", "training_step_cases", "predict_one_cases"]

LR, MOMENTUM = 0.001, 0.9

MODELS = {
    # name: (companion builder(dropout), input shape, torch builder(nn, dropout), MACs/image)
    "LeNet-5": (lambda p: lenet5(rng=0), (1, 32, 32),
                lambda nn, p: nn.Sequential(
                    nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                    nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                    nn.Linear(84, 10)),
                6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10),
    "32x32x3 net": (lambda p: cnn_32x32x3(rng=0, dropout=p), (3, 32, 32),
                    lambda nn, p: nn.Sequential(
                        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(4096, 128), nn.ReLU(), nn.Dropout(p),
                        nn.Linear(128, 10)),
                    32 * 32 * 32 * 27 + 64 * 16 * 16 * 288 + 4096 * 128 + 128 * 10),
}


def _torch_model(torch, name, model, dropout):
    """The torch network of ``name`` holding ``model``'s parameters."""
    net = MODELS[name][2](torch.nn, dropout)
    params = model.params
    layers = [key.split(".")[0] for key in params if key.endswith(".w")]
    modules = [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        for layer, module in zip(layers, modules):
            w = params[f"{layer}.w"]
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(
                w.T if isinstance(module, torch.nn.Linear) else w)))
            module.bias.copy_(torch.from_numpy(params[f"{layer}.b"]))
    return net, list(zip(layers, modules))


def _companion_step(model, x, y):
    opt = SGD(lr=LR, momentum=MOMENTUM)

    def step():
        logits = model.forward(x)
        loss, dlogits = cross_entropy_loss(logits, y)
        model.backward(dlogits, input_grad=False)   # as train_step; torch: no x.grad
        opt.step(model.trainable_params(), model.trainable_grads())
        return loss

    return step


def _torch_step(torch, net, x, y):
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def step():
        opt.zero_grad()
        loss = loss_fn(net(tx), ty)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def _check_one_step(torch, name, x, y):
    """One step of each, dropout off, from the same parameters: same loss and update."""
    ours = MODELS[name][0](0.0)
    net, pairs = _torch_model(torch, name, ours, 0.0)
    loss = _companion_step(ours, x, y)()
    their_loss = _torch_step(torch, net, x, y)()
    if abs(loss - their_loss) > 2e-3 * max(1.0, abs(their_loss)):
        raise AssertionError(f"{name}: companion loss {loss} differs from torch's {their_loss}")
    for layer, module in pairs:
        w = module.weight.detach().numpy()
        w = w.T if isinstance(module, torch.nn.Linear) else w
        err = float(np.max(np.abs(ours.params[f"{layer}.w"] - w)))
        if err > 2e-3 * float(np.max(np.abs(w))):
            raise AssertionError(f"{name}: {layer}.w after one step differs from torch's "
                                 f"(error {err:.2e})")


def training_step_cases(*, batch: int = 64, torch=None, seed: int = 0) -> list[Case]:
    """One case per network: a whole training step at ``batch`` (float32)."""
    cases = []
    for name, (build, shape, _, macs) in MODELS.items():
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((batch,) + shape).astype(np.float32)
        y = rng.integers(0, 10, batch)
        impls = {"companion": _companion_step(build(0.5), x, y)}
        if torch is not None:
            _check_one_step(torch, name, x, y)
            model = build(0.5)
            net, _ = _torch_model(torch, name, model, 0.5)
            impls["torch"] = _torch_step(torch, net.train(), x, y)
        cases.append(Case("companion.nn", f"{name} step", impls, note="SGD",
                          flops=3 * 2 * batch * macs, summed=False))
    return cases


def predict_one_cases(*, torch=None, seed: int = 0) -> list[Case]:
    """One case per network: the forward pass of one image in evaluation mode."""
    cases = []
    for name, (build, shape, _, macs) in MODELS.items():
        x = np.random.default_rng(seed).standard_normal((1,) + shape).astype(np.float32)
        model = build(0.5).eval()
        impls = {"companion": lambda model=model, x=x: model.forward(x)}
        if torch is not None:
            net, _ = _torch_model(torch, name, model, 0.5)
            net.eval()
            tx = torch.from_numpy(x)
            ours, theirs = model.forward(x), net(tx).detach().numpy()
            if float(np.max(np.abs(ours - theirs))) > 1e-3 * float(np.max(np.abs(theirs))):
                raise AssertionError(f"{name}: one-image logits differ from torch's")

            def predict(net=net, tx=tx):
                with torch.no_grad():
                    return net(tx)

            impls["torch"] = predict
        cases.append(Case("one image", f"{name} predict", impls, note="eval",
                          flops=2 * macs, summed=False))
    return cases
