"""End to end: the instructor commands grade submissions written by the tests.

One copy of the course (``exercises/``) in a temporary folder serves the whole
module. ``tools/grade.py`` releases every assignment, then these students hand
in notebooks:

* ``solution``: the source notebook itself, solutions included -> full marks
  (this re-executes every solution against every visible and hidden test);
* ``blank``: the released notebook untouched -> 0 on every test cell;
* ``partial``: correct except for one known mistake per assignment -> exactly
  the cells that test that part are lost;
* on ``01_background`` only, the bad submissions of the instructors page: a
  syntax error, an infinite loop (one that can be interrupted, and one that
  ignores the interrupt), ``os._exit``, a segfault, a deleted and an edited test
  cell, megabytes of output, no notebook, a file that is not JSON, and answers
  pasted into a new notebook (which holds none of the assignment's cells).

Every submission runs in a sandbox (``tools/sandbox.py``) and is scored by the
grader's own process; ``test_grading_attacks.py`` tries to break that. Where no
sandbox can be made, this module grades with ``--unsafe`` (its submissions are
the tests' own), so that the honest path is tested on any machine.

Then ``autograde``, ``export`` and ``feedback`` run once on all of them, and the
tests read the CSV files, the graded notebooks and the feedback pages.
"""
import copy
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "exercises"
sys.path.insert(0, str(ROOT / "tools"))
import grade  # noqa: E402

ASSIGNMENTS = grade.Course(COURSE).assignments()

# One mistake per assignment: {assignment: ({solution cell: wrong code}, {test cells lost})}
PARTIAL = {
    "01_background": ({"conv_side_solution": (
                           "def conv_output_side(n, k, p=0, s=1):\n"
                           "    return (n + 2 * p - k) / s + 1      # / instead of //"),
                       "chain_solution": "dL_dw = 12\ndL_db = 3"},
                      {"conv_side_check", "conv_side_hidden", "chain_db_check"}),
    "02_loss_functions": ({"ce_solution": (
                               "def cross_entropy_from_logits(logits, labels):\n"
                               "    N = logits.shape[0]\n"
                               "    s = logits - logits.max(axis=1, keepdims=True)\n"
                               "    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))\n"
                               "    g = np.exp(log_p)\n"
                               "    g[np.arange(N), labels] -= 1\n"
                               "    return -log_p[np.arange(N), labels].mean(), g  # no 1/N")},
                          {"ce_grad_check", "ce_stable_check", "ce_hidden"}),
    "03_gradient_descent": ({"sgd_solution": (
                                 "def minibatch_sgd(X, y, w0, lr, batch_size, epochs):\n"
                                 "    w = [np.array(w0, dtype=float)]\n"
                                 "    for _ in range(epochs):   # drops the last, smaller batch\n"
                                 "        for s in range(0, len(y) - batch_size + 1, batch_size):\n"
                                 "            g = least_squares_loss_and_grad(\n"
                                 "                w[-1], X[s:s + batch_size], y[s:s + batch_size])[1]\n"
                                 "            w.append(w[-1] - lr * g)\n"
                                 "    return np.array(w)")},
                            {"sgd_last_batch_check", "sgd_hidden"}),
    "06_dense_layer": ({"backward_solution": (
                            "def dense_backward_grads(dout, x, w):\n"
                            "    return dout @ w.T, x.T @ dout, dout.mean(axis=0)   # mean, not sum")},
                       {"dense_db_check", "dense_hidden"}),
    "09_pooling": ({"maxpool_solution": (
                        "def max_pool_backward(dout, x, k, s):\n"
                        "    dx = np.zeros_like(x)\n"
                        "    N, C, Ho, Wo = dout.shape\n"
                        "    for n in range(N):\n"
                        "        for c in range(C):\n"
                        "            for i in range(Ho):\n"
                        "                for j in range(Wo):\n"
                        "                    w = x[n, c, i * s:i * s + k, j * s:j * s + k]\n"
                        "                    p, q = divmod(int(np.argmax(w)), k)\n"
                        "                    dx[n, c, i * s + p, j * s + q] = dout[n, c, i, j]  # = not +=\n"
                        "    return dx")},
                   {"maxpool_overlap_check", "maxpool_hidden"}),
    "05_backpropagation": ({"swish_solution": (
                                "def swish_backward(dout, x):\n"
                                "    s = 1.0 / (1.0 + np.exp(-x))\n"
                                "    return dout * s          # one of the two paths only")},
                           {"swish_check", "swish_hidden"}),
    "07_convolution_forward": ({"conv_solution": (
                                    "def conv2d_loops(x, w, b, stride=1, padding=0):\n"
                                    "    N, C, H, W = x.shape\n"
                                    "    F, _, KH, KW = w.shape\n"
                                    "    s = stride                # padding ignored\n"
                                    "    Ho, Wo = (H - KH) // s + 1, (W - KW) // s + 1\n"
                                    "    y = np.empty((N, F, Ho, Wo))\n"
                                    "    for n in range(N):\n"
                                    "        for f in range(F):\n"
                                    "            for i in range(Ho):\n"
                                    "                for j in range(Wo):\n"
                                    "                    win = x[n, :, i*s:i*s + KH, j*s:j*s + KW]\n"
                                    "                    y[n, f, i, j] = np.sum(win * w[f]) + b[f]\n"
                                    "    return y")},
                               {"conv_padding_check", "conv_hidden"}),
    "08_convolution_backward": ({"dx_solution": (
                                     "def conv2d_backward_input(dout, w, x_shape, stride=1, padding=0):\n"
                                     "    N, C, H, W = x_shape\n"
                                     "    F, _, KH, KW = w.shape\n"
                                     "    s, p = stride, padding\n"
                                     "    dxp = np.zeros((N, C, H + 2 * p, W + 2 * p))\n"
                                     "    for n in range(N):\n"
                                     "        for f in range(F):\n"
                                     "            for i in range(dout.shape[2]):\n"
                                     "                for j in range(dout.shape[3]):\n"
                                     "                    dxp[n, :, i*s:i*s + KH, j*s:j*s + KW] += \\\n"
                                     "                        dout[n, f, i, j] * w[f]\n"
                                     "    return dxp                 # the padding is not cut off")},
                                {"dx_padding_check", "dx_hidden"}),
    "10_activations": ({"leaky_solution": (
                            "def leaky_relu_grad(dout, x, negative_slope=0.01):\n"
                            "    return np.where(x >= 0, dout, negative_slope * dout)  # >=")},
                       {"leaky_zero_check", "leaky_hidden"}),
    "11_whole_cnn": ({"step_solution": (
                          "def sgd_train_step(model, x, labels, lr):\n"
                          "    loss, dlogits = cross_entropy_loss(model.forward(x), labels)\n"
                          "    model.backward(dlogits)    # and no update\n"
                          "    return loss, cross_entropy_loss(model.forward(x), labels)[0]")},
                     {"step_update_check", "step_hidden"}),
    "12_optimizers": ({"adam_solution": (
                           "def adam_path(w0, grads, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):\n"
                           "    w = np.array(w0, dtype=float)\n"
                           "    m, v = np.zeros_like(w), np.zeros_like(w)\n"
                           "    path = [w.copy()]\n"
                           "    for g in grads:              # no bias correction\n"
                           "        m = beta1 * m + (1 - beta1) * g\n"
                           "        v = beta2 * v + (1 - beta2) * g * g\n"
                           "        w = w - lr * m / (np.sqrt(v) + eps)\n"
                           "        path.append(w.copy())\n"
                           "    return np.array(path)")},
                      {"adam_first_step_check", "adam_steps_check", "adam_hidden"}),
    "13_learning_rate_schedules": ({"cosine_solution": (
                                        "def warmup_cosine_lr(t, base_lr, warmup_steps, total_steps,\n"
                                        "                     min_lr=0.0, start_factor=1 / 3):\n"
                                        "    W, T = warmup_steps, total_steps - warmup_steps\n"
                                        "    if t < W:\n"
                                        "        return base_lr * (start_factor + (1 - start_factor) * t / W)\n"
                                        "    frac = min(t, T) / T          # t instead of t - W\n"
                                        "    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * frac))")},
                                   {"cosine_check", "cosine_hidden"}),
    "14_regularization": ({"dropout_solution": (
                               "def dropout_forward_backward(x, dout, p, seed):\n"
                               "    keep = np.random.default_rng(seed).random(x.shape) >= p\n"
                               "    return x * keep, dout * keep     # not scaled by 1 / (1 - p)")},
                          {"dropout_out_check", "dropout_dx_check", "dropout_hidden"}),
    "15_transfer_and_distillation": ({"kd_solution": (
                                          "def distillation_value_and_grad(s, t, labels, temperature, alpha):\n"
                                          "    def log_softmax(z):\n"
                                          "        z = z - z.max(axis=1, keepdims=True)\n"
                                          "        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))\n"
                                          "    N, T = s.shape[0], temperature\n"
                                          "    log_qs, log_qt, log_p = log_softmax(s / T), log_softmax(t / T), log_softmax(s)\n"
                                          "    rows = np.arange(N)\n"
                                          "    value = (alpha * T * T * np.sum(np.exp(log_qt) * (log_qt - log_qs)) / N\n"
                                          "             - (1 - alpha) * np.sum(log_p[rows, labels]) / N)\n"
                                          "    y = np.zeros_like(s)\n"
                                          "    y[rows, labels] = 1.0\n"
                                          "    grad = (alpha * T * T / N * (np.exp(log_qs) - np.exp(log_qt))   # T**2, not T\n"
                                          "            + (1 - alpha) / N * (np.exp(log_p) - y))\n"
                                          "    return value, grad")},
                                     {"kd_grad_check", "kd_hidden"}),
    "16_challenges": ({"clip_solution": (
                           "def clip_by_global_norm(grads, max_norm):\n"
                           "    total = float(np.sqrt(sum(np.sum(g * g) for g in grads.values())))\n"
                           "    # each array clipped by its own norm: the direction changes\n"
                           "    return {k: g * min(1.0, max_norm / (np.sqrt(np.sum(g * g)) + 1e-6))\n"
                           "            for k, g in grads.items()}, total")},
                      {"clip_scale_check", "clip_hidden"}),
    "17_applications": ({"tconv_solution": (
                             "def conv_transpose2d(v, w, stride=1, padding=0):\n"
                             "    N, F, H, W = v.shape\n"
                             "    _, C, K, _ = w.shape\n"
                             "    s = stride\n"
                             "    y = np.zeros((N, C, (H - 1) * s + K, (W - 1) * s + K))\n"
                             "    for n in range(N):\n"
                             "        for f in range(F):\n"
                             "            for i in range(H):\n"
                             "                for j in range(W):\n"
                             "                    y[n, :, i*s:i*s + K, j*s:j*s + K] += v[n, f, i, j] * w[f]\n"
                             "    return y                    # the padding is not cut off")},
                        {"tconv_upsample_check", "tconv_hidden"}),
    "18_faq": ({"relerr_solution": (
                    "def max_relative_error(a, b):\n"
                    "    if a.size == 0:\n"
                    "        return 0.0\n"
                    "    return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))))  # 0/0 at zeros")},
               {"relerr_hidden"}),
    "04_softmax": ({"softmax_solution": (
                        "def stable_softmax(z):\n"
                        "    e = np.exp(z)            # no shift: overflows for large logits\n"
                        "    return e / e.sum(axis=1, keepdims=True)")},
                   {"softmax_check", "softmax_hidden"}),
}

BG = "01_background"
# Bad submissions of 01_background: {student: (what is changed, expected lost cells)}
NEURON = {"neuron_loss_check", "neuron_grad_check", "neuron_hidden"}
BAD = {
    "syntax": ({"neuron_solution": "def linear_neuron_loss_and_grad(w, X, y)\n    return 0"}, NEURON),
    "loop": ({"neuron_solution": "def linear_neuron_loss_and_grad(w, X, y):\n"
                                 "    while True:\n        pass"}, NEURON),
    "exit": ({"neuron_solution": "import os\n\ndef linear_neuron_loss_and_grad(w, X, y):\n"
                                 "    os._exit(1)"}, NEURON),
    "segfault": ({"neuron_solution": "import ctypes\n\ndef linear_neuron_loss_and_grad(w, X, y):\n"
                                     "    ctypes.string_at(0)     # reads address 0: SIGSEGV"},
                 NEURON),
    "stuck": ({"backprop_solution": "import signal\n\nsignal.signal(signal.SIGINT, signal.SIG_IGN)"
                                    "   # cannot be interrupted\nwhile True:\n    pass"},
              {"backprop_check"}),
    "megabytes": ({"backprop_solution": "print('x' * 5_000_000)\nfor i in range(3000):\n"
                                        "    print(i)\nanswer_backprop = 'b'"}, set()),
}


def _points(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def _index(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells)
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _filled(release, source, wrong=None):
    """The release with every solution cell answered as in the source, except ``wrong``."""
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = source.cells[_index(source, meta["grade_id"])].source
            cell.source = (wrong or {}).get(meta["grade_id"], cell.source)
    return nb


def _without_environment_on_path() -> dict:
    """The environment with this Python's ``bin/`` (the virtual environment) taken off
    ``PATH``: the commands must work as CI runs them, ``.venv/bin/python ...`` without an
    activated environment (nbgrader runs ``alembic`` by name, for instance)."""
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and Path(p).resolve() != Path(bindir).resolve())
    env.pop("VIRTUAL_ENV", None)
    return env


def _run(*args, timeout=1500):
    import sandbox
    if "autograde" in args and sandbox.problem() is not None:
        args = (*args, "--unsafe")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "grade.py"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=_without_environment_on_path())
    return proc


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    for name in ("source", "nbgrader_config.py", "nbgrader_plugins.py"):
        src = COURSE / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    # warm the Numba cache of the references the checks call (cache=True, on disk)
    import numpy as np
    from companion.teaching import least_squares_loss_and_grad, sgd_linear_regression
    X, y = np.ones((4, 2)), np.ones(4)
    least_squares_loss_and_grad(np.zeros(2), X, y)
    sgd_linear_regression(X, y, 0.1, 1, 2, rng=None, shuffle=False)

    out = {"release": _run("--course", str(root), "release")}
    assert out["release"].returncode == 0, out["release"].stdout + out["release"].stderr

    def put(student, a, nb=None, text=None):
        folder = root / "submitted" / student / a
        folder.mkdir(parents=True, exist_ok=True)
        if nb is not None:
            nbformat.write(nb, folder / f"{a}.ipynb")
        if text is not None:
            (folder / f"{a}.ipynb").write_text(text)

    for a in ASSIGNMENTS:
        source = nbformat.read(root / "source" / a / f"{a}.ipynb", as_version=4)
        release = nbformat.read(root / "release" / a / f"{a}.ipynb", as_version=4)
        put("solution", a, source)
        put("blank", a, release)
        put("partial", a, _filled(release, source, PARTIAL[a][0]))
    # every assignment at once (one nbgrader process), with the default time limits
    out["autograde"] = _run("--course", str(root), "autograde")

    # then the bad submissions of 01_background, graded with a short time limit per
    # cell; the submissions graded above are unchanged and not graded again
    source = nbformat.read(root / "source" / BG / f"{BG}.ipynb", as_version=4)
    release = nbformat.read(root / "release" / BG / f"{BG}.ipynb", as_version=4)
    for student, (wrong, _) in BAD.items():
        put(student, BG, _filled(release, source, wrong))
    nb = _filled(release, source)
    del nb.cells[_index(nb, "conv_side_check")]
    put("deleted_test", BG, nb)
    nb = _filled(release, source, {"conv_side_solution": "def conv_output_side(n, k, p=0, s=1):\n"
                                                         "    return (n - k) // s + 1"})
    nb.cells[_index(nb, "conv_side_check")].source = "print('all tests passed')"
    put("edited_test", BG, nb)
    pasted = nbformat.v4.new_notebook(cells=[      # answers pasted into a new notebook
        nbformat.v4.new_code_cell(c.source) for c in source.cells
        if c.metadata["nbgrader"].get("solution")])
    put("pasted", BG, pasted)
    put("no_notebook", BG)
    (root / "submitted" / "no_notebook" / BG / "answers.txt").write_text("my answers")
    put("not_json", BG, text='{"cells": [{"cell_type": "code", ')

    out["validate"] = _run("--course", str(root), "validate", BG)
    out["autograde_bg"] = _run("--course", str(root), "autograde", BG, "--timeout", "8")
    out["export"] = _run("--course", str(root), "export")
    out["feedback"] = _run("--course", str(root), "feedback")
    with open(root / "grades.csv", newline="") as fh:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(fh)}
    with open(root / "grades_by_cell.csv", newline="") as fh:
        cells = {}
        for r in csv.DictReader(fh):
            cells.setdefault((r["assignment"], r["student_id"]), {})[r["cell"]] = \
                (float(r["points"]), float(r["max_points"]))
    return {"root": root, "out": out, "rows": rows, "cells": cells}


def _lost(course, a, student):
    return {cell for cell, (pts, mx) in course["cells"][(a, student)].items() if pts < mx}


# --------------------------------------------------------------------------
# the commands
# --------------------------------------------------------------------------

def test_commands_succeed(course):
    for name, proc in course["out"].items():
        assert proc.returncode == 0, f"{name}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "01_background: solutions pass every test; release fails every check" \
        in course["out"]["validate"].stdout


def test_release_strips_solutions_and_hidden_tests(course):
    for a in ASSIGNMENTS:
        text = (course["root"] / "release" / a / f"{a}.ipynb").read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        assert "raise NotImplementedError()" in text


def test_released_notebooks_start_with_the_setup_cell(course):
    """Students open released notebooks on Colab too: the book's set-up cell comes first."""
    import setup_cell
    for a in ASSIGNMENTS:
        nb = nbformat.read(course["root"] / "release" / a / f"{a}.ipynb", as_version=4)
        assert setup_cell.problem(nb, ROOT) is None, a
        assert "nbgrader" not in nb.cells[0].metadata, "the set-up cell is not graded"


# --------------------------------------------------------------------------
# source, release, partly wrong
# --------------------------------------------------------------------------

@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_the_solutions_score_full_marks(course, a):
    row = course["rows"][(a, "solution")]
    assert row["status"] == "graded" and row["details"] == ""
    assert float(row["score"]) == float(row["max_score"]) > 0
    assert _lost(course, a, "solution") == set()
    source = nbformat.read(COURSE / "source" / a / f"{a}.ipynb", as_version=4)
    assert float(row["max_score"]) == sum(_points(source).values())
    assert set(course["cells"][(a, "solution")]) == set(_points(source))


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_the_release_scores_zero_on_every_cell(course, a):
    row = course["rows"][(a, "blank")]
    assert row["status"] == "graded" and float(row["score"]) == 0
    assert row["details"] == ""                  # untouched test cells are not reported
    cells = course["cells"][(a, "blank")]
    assert cells and all(pts == 0 and mx > 0 for pts, mx in cells.values())


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_a_wrong_part_loses_exactly_its_cells(course, a):
    expected = PARTIAL[a][1]
    assert _lost(course, a, "partial") == expected
    points = course["cells"][(a, "partial")]
    row = course["rows"][(a, "partial")]
    assert float(row["score"]) == float(row["max_score"]) - sum(points[c][1] for c in expected)


@pytest.mark.parametrize("a", ASSIGNMENTS)
def test_every_visible_check_of_the_release_fails_with_a_clear_message(course, a):
    """The ``blank`` student handed in the released notebook unanswered: it ran as a
    learner's would (the visible check comes first in every test cell; the hidden tests
    after it are never reached), and every check cell failed with a message that says
    what to do, not with a bare AssertionError."""
    path = course["root"] / "autograded" / "blank" / a / f"{a}.ipynb"
    nb = nbformat.read(path, as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert tests
    for cell in tests:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert len(errors) == 1, cell.source
        assert errors[0].ename == "CheckFailure"
        text = errors[0].evalue
        if "is not implemented yet" in text:
            assert "hint" in text and "raise NotImplementedError()" in text, text
        else:
            assert "is not answered yet" in text and "Set the answer variable" in text, text


# --------------------------------------------------------------------------
# bad submissions
# --------------------------------------------------------------------------

@pytest.mark.parametrize("student", sorted(BAD))
def test_a_bad_answer_loses_only_its_own_cells(course, student):
    assert _lost(course, BG, student) == BAD[student][1]
    assert course["rows"][(BG, student)]["status"] == "graded"


def test_what_each_bad_submission_is_told(course):
    details = {s: course["rows"][(BG, s)]["details"] for s in
               list(BAD) + ["deleted_test", "edited_test"]}
    assert "cell neuron_solution: SyntaxError" in details["syntax"]
    assert "cell neuron_loss_check: timed out" in details["loop"]
    assert details["stuck"] == "cell backprop_solution: timed out"
    assert "cell neuron_loss_check: the kernel died" in details["exit"]
    assert "cell neuron_loss_check: the kernel died" in details["segfault"]
    assert "cell backprop_solution: output truncated" in details["megabytes"]
    assert details["deleted_test"] == "cell conv_side_check was deleted: restored from the source"
    assert details["edited_test"] == "cell conv_side_check was edited: restored from the source"


def test_deleted_and_edited_test_cells_are_restored_and_graded(course):
    assert _lost(course, BG, "deleted_test") == set()
    graded = nbformat.read(course["root"] / "autograded" / "deleted_test" / BG / f"{BG}.ipynb",
                           as_version=4)
    restored = graded.cells[_index(graded, "conv_side_check")]
    assert "check_function(" in restored.source and "conv_output_side," in restored.source
    # the edited cell printed "all tests passed"; restored, it catches the wrong formula
    assert _lost(course, BG, "edited_test") == {"conv_side_check", "conv_side_hidden"}


def test_megabytes_of_output_are_cut(course):
    path = course["root"] / "autograded" / "megabytes" / BG / f"{BG}.ipynb"
    assert path.stat().st_size < 200_000
    text = path.read_text()
    assert "Output truncated" in text
    feedback = course["root"] / "feedback" / "megabytes" / BG / f"{BG}.html"
    assert feedback.stat().st_size < 1_000_000


def test_missing_invalid_and_ungradable_notebooks_score_zero_with_a_reason(course):
    row = course["rows"][(BG, "no_notebook")]
    assert (row["status"], float(row["score"])) == ("missing notebook", 0)
    assert "found: answers.txt" in row["details"]
    row = course["rows"][(BG, "not_json")]
    assert (row["status"], float(row["score"])) == ("invalid notebook", 0)
    assert "NotJSONError" in row["details"]
    row = course["rows"][(BG, "pasted")]
    assert (row["status"], float(row["score"])) == ("grading failed", 0)
    assert "logs/autograde.log" in row["details"]
    for student in ("no_notebook", "not_json", "pasted"):
        assert all(pts == 0 for pts, _ in course["cells"][(BG, student)].values())


# --------------------------------------------------------------------------
# export and feedback
# --------------------------------------------------------------------------

def test_no_submission_is_lost_from_the_export(course):
    students = {p.name for p in (course["root"] / "submitted").iterdir()}
    assert set(course["rows"]) == {(a, s) for a in ASSIGNMENTS for s in students}
    # students who handed in 01_background only appear for the others with 0 points
    for a in ASSIGNMENTS[1:]:
        row = course["rows"][(a, "exit")]
        assert (row["status"], float(row["score"])) == ("no submission", 0)
    assert set(course["cells"]) == set(course["rows"])


def test_autograde_reports_every_submission_and_grades_only_new_ones(course):
    out = course["out"]["autograde_bg"].stdout
    assert "grading 11 submission(s) of 1 assignment(s)" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    new = list(BAD) + ["deleted_test", "edited_test", "no_notebook", "not_json", "pasted"]
    assert set(lines) == set(new) | {"solution", "blank", "partial"}
    for student in new:
        assert "(unchanged since it was graded)" not in lines[student], lines[student]
    for student in ("solution", "blank", "partial"):
        assert lines[student].endswith("(unchanged since it was graded)"), lines[student]
    first = course["out"]["autograde"].stdout
    assert f"grading {3 * len(ASSIGNMENTS)} submission(s) of {len(ASSIGNMENTS)} " \
           "assignment(s)" in first


def test_every_submission_gets_a_feedback_page(course):
    root = course["root"]
    for a in ASSIGNMENTS:
        for student in grade.Course(root).students_with(a):
            page = root / "feedback" / student / a / f"{a}.html"
            assert page.is_file(), page
    text = (root / "feedback" / "not_json" / BG / f"{BG}.html").read_text()
    assert "Invalid notebook" in text and "Score: 0 / 12" in text
    text = (root / "feedback" / "partial" / BG / f"{BG}.html").read_text()
    assert "conv_side_check" in text


def test_grading_logs_are_kept(course):
    import sandbox
    text = (course["root"] / "logs" / "autograde.log").read_text()
    mode = "sandboxed" if sandbox.problem() is None else "UNSAFE (no sandbox)"
    assert f"autograde {' '.join(ASSIGNMENTS)}: {3 * len(ASSIGNMENTS)} submission(s), " \
           f"{mode}" in text                                     # all assignments at once
    assert f"autograde 01_background: 11 submission(s), {mode}" in text  # then the new ones
    assert "01_background exit: graded" in text                  # one entry per submission
    assert "DeadKernelError; re-running the notebook without it" in text
    assert "CellTimeoutError; re-running the notebook without it" in text    # the stuck one
