"""Benchmarks of the companion package (not part of the tests).

``python -m benchmarks`` times, at batch 64 in float32,

* the forward + backward pass of the convolution and pooling layers of two
  networks -- LeNet-5 (1x32x32 input) and the 32x32x3 network of the course's
  first source document -- and
* a whole LeNet-5 training step (forward, loss, backward, SGD update) with
  the functional API, and both networks' training steps and one-image
  predictions with the layer objects of :mod:`companion.nn`,
* conv and pool layers over batch 1-256, 16-128 px and 3-64 channels,
* the import and the first step with an empty and a warm Numba cache,

and reports each case (and the sum per network) as a share of the measured
matrix-product peak and as a ratio against

* a plain NumPy implementation (:mod:`benchmarks.reference`), run in the same
  process, and
* PyTorch on the CPU, when ``torch`` can be imported (optional, never a
  requirement), with the same number of threads as Numba.

``python -m benchmarks.conv_scaling`` times the convolution as its image size,
channels and batch grow, and writes ``book/data/conv_scaling.json``, which
chapter 16 draws (the chapter itself times nothing).

``python -m benchmarks.thread_policy`` measures the thread policies behind
:mod:`companion._threads` on an idle machine and with one core kept busy.

Modules
-------
:mod:`benchmarks.timing`
    Interleaved, repeated timing with warm-up; medians.
:mod:`benchmarks.reference`
    The NumPy reference layers (im2col convolution, window max pooling).
:mod:`benchmarks.torch_layers`
    The same layers in PyTorch (imported only when torch is available).
:mod:`benchmarks.cases`
    What is timed: a :class:`~benchmarks.cases.Case` is one workload with one
    callable per implementation; the layer cases of both networks are built
    here. Add a case and the runner and the table handle it.
:mod:`benchmarks.training`
    The LeNet-5 training step case (companion's functional API, NumPy,
    PyTorch), each checked against the NumPy reference before timing.
:mod:`benchmarks.models`
    Both networks' whole training steps and one-image predictions
    (``companion.nn`` against ``torch.nn``, checked against each other).
:mod:`benchmarks.grid`
    The conv/pool shapes beyond the two networks.
:mod:`benchmarks.machine`
    The matrix-product peak; cold and warm start times.
:mod:`benchmarks.report`
    The table.
:mod:`benchmarks.conv_scaling`
    Time against work of the convolution, recorded for chapter 16.
:mod:`benchmarks.thread_policy`
    Fresh processes under different OpenMP wait policies / threading layers.

Speed is never asserted in the test suite: the machine is shared and timings
are noisy. Compare implementations side by side within one run, and repeat.
"""
