"""fit trains a small fully convolutional network for segmentation: a loss over every pixel
(the binary cross-entropy by name, or a per-pixel softmax cross-entropy as a callable),
pixel_accuracy as the metric, targets that are maps rather than labels."""
import numpy as np
import pytest

from companion.functional import cross_entropy_loss
from companion.nn import Conv2d, ReLU, Sequential
from companion.optim import Adam
from companion.train import evaluate, fit, pixel_accuracy


def squares(n=64, side=8, seed=0):
    """Noisy images holding a bright 3x3 square somewhere; the target is the square's mask."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, 1, side, side), dtype=np.float64)
    for k, (r, c) in enumerate(rng.integers(0, side - 2, (n, 2))):
        masks[k, 0, r:r + 3, c:c + 3] = 1.0
    return masks + 0.3 * rng.standard_normal(masks.shape), masks


def fcn(out_channels, seed=0):
    return Sequential(Conv2d(1, 4, 3, padding="same", rng=seed, dtype=np.float64), ReLU(),
                      Conv2d(4, out_channels, 3, padding="same", rng=seed + 1,
                             dtype=np.float64))


def pixel_cross_entropy(logits, labels):
    """Softmax cross-entropy averaged over every pixel: (N, K, H, W) logits, (N, H, W) labels."""
    n, k = logits.shape[:2]
    rows = np.moveaxis(logits, 1, -1).reshape(-1, k)
    value, grad = cross_entropy_loss(rows, labels.reshape(-1))
    return value, np.moveaxis(grad.reshape(n, *logits.shape[2:], k), -1, 1)


def test_binary_segmentation_with_fit():
    x, t = squares()
    model = fcn(1)
    h = fit(model, (x, t), loss="binary_cross_entropy", metric=pixel_accuracy,
            optimizer=Adam(lr=0.02), epochs=8, batch_size=16, rng=0,
            val_data=squares(32, seed=1), progress=False)
    assert h.train_loss[-1] < 0.5 * h.train_loss[0]
    assert h.val_acc[-1] > 0.95 and h.val_acc[-1] > h.val_acc[0]
    loss, acc = evaluate(model, *squares(32, seed=1), loss="binary_cross_entropy",
                         metric=pixel_accuracy)
    assert (loss, acc) == (h.val_loss[-1], h.val_acc[-1])


def test_multiclass_segmentation_with_a_per_pixel_loss():
    x, t = squares()
    labels = t[:, 0].astype(np.int64)
    h = fit(fcn(2), (x, labels), loss=pixel_cross_entropy, metric=pixel_accuracy,
            optimizer=Adam(lr=0.02), epochs=8, batch_size=16, rng=0, progress=False)
    assert h.train_acc[-1] > 0.95 and h.train_loss[-1] < 0.5 * h.train_loss[0]


def test_map_targets_need_a_loss_that_takes_them():
    x, t = squares(8)
    with pytest.raises(TypeError, match=r"train_data\[1\] must be integer class labels"):
        fit(fcn(1), (x, t), optimizer=Adam(lr=0.01), epochs=1, progress=False)
