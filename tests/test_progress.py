"""The progress bar in its three modes: a terminal (a stream that says it is a tty), off
(captured or redirected stderr), and a real Jupyter kernel run by nbclient, whose stored
outputs must hold nothing from the bar and pass nbval."""
import io
import json
import os
import subprocess
import sys
import textwrap

import pytest

from companion._progress import ProgressBar, in_jupyter_kernel, progress_mode


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_modes_outside_a_kernel():
    assert not in_jupyter_kernel()
    assert progress_mode(False) == "off"
    assert progress_mode("auto", io.StringIO()) == "off"          # a file or pipe: silent
    assert progress_mode(None, io.StringIO()) == "off"
    assert progress_mode(True, io.StringIO()) == "terminal"       # asked for explicitly
    assert progress_mode("auto", FakeTerminal()) == "terminal"
    with pytest.raises(TypeError, match="progress must be 'auto', True, False or None"):
        progress_mode("yes")
    with pytest.raises(TypeError, match="progress must be"):
        progress_mode(1)


def test_terminal_bar_redraws_one_line_and_leaves_it():
    term = FakeTerminal()
    with ProgressBar(total=4, desc="epoch 1/2", stream=term, min_interval=0) as bar:
        assert bar.mode == "terminal"
        for i in range(4):
            bar.update(1, loss=1.0 / (i + 1), acc=0.5)
    text = term.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")          # one line, redrawn with \r
    last = text.rstrip("\n").split("\r")[-1]
    assert last.startswith("epoch 1/2: 100.0% [" + "#" * 30 + "] 4/4 loss=0.25 acc=0.5 [")
    assert " 25.0% [" in text and " 50.0% [" in text
    assert bar.closed and bar.n == 4


def test_terminal_bar_without_leave_blanks_its_line():
    term = FakeTerminal()
    bar = ProgressBar(total=3, desc="x", stream=term, leave=False)
    bar.update(3)
    bar.close()
    bar.close()                                                    # idempotent
    text = term.getvalue()
    assert "\n" not in text and text.endswith("\r")
    assert text.split("\r")[-2].strip() == ""                     # overwritten with spaces


def test_byte_counts_and_unknown_total():
    term = FakeTerminal()
    with ProgressBar(total=2_500_000, desc="file.gz", unit="B", stream=term) as bar:
        bar.update(2_500_000)
    assert "file.gz: 100.0% [" in term.getvalue() and "2.5/2.5 MB" in term.getvalue()
    term = FakeTerminal()
    with ProgressBar(desc="items", stream=term, min_interval=0) as bar:
        bar.update(7)
    assert "items: 7 [" in term.getvalue()


def test_off_writes_nothing_and_auto_is_off_under_capture(capsys):
    with ProgressBar(total=5, desc="quiet", progress=False) as bar:
        bar.update(5, loss=0.1)
    with ProgressBar(total=5, desc="auto") as bar:                 # stderr captured: not a tty
        assert bar.mode == "off"
        bar.update(5)
    assert capsys.readouterr() == ("", "")


def test_bad_arguments():
    with pytest.raises(TypeError, match="total must be an integer or None"):
        ProgressBar(total=2.5)
    with pytest.raises(ValueError, match="total must be >= 0"):
        ProgressBar(total=-1)
    with pytest.raises(ValueError, match="unit must be 'it' or 'B'"):
        ProgressBar(unit="kg")
    with pytest.raises(ValueError, match="min_interval must be a finite number >= 0"):
        ProgressBar(min_interval=-1)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        ProgressBar(width=0)
    with pytest.raises(TypeError, match="leave must be True or False"):
        ProgressBar(leave=1)
    bar = ProgressBar(total=2, progress=False)
    with pytest.raises(ValueError, match="n must be a non-negative integer"):
        bar.update(-1)
    bar.close()
    with pytest.raises(ValueError, match="update\\(\\) on a closed ProgressBar"):
        bar.update(1)


# ----------------------------------------------------------------------------- Jupyter
CELL = textwrap.dedent("""\
    import numpy as np
    from companion._progress import ProgressBar
    from companion.nn import Dense
    from companion.nn import Sequential
    from companion.optim import SGD
    from companion.train import fit
    print("before")
    with ProgressBar(total=40, desc="loop", min_interval=0) as bar:
        for i in range(40):
            bar.update(1, loss=1.0 / (i + 1))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2))
    y = (x[:, 0] > 0).astype(np.int64)
    model = Sequential(Dense(2, 2, rng=0, dtype=np.float64))
    history = fit(model, (x, y), optimizer=SGD(lr=0.5), epochs=2, batch_size=16, rng=0)
    print("after", bar.mode, history.epochs)
""")


def test_in_a_kernel_the_bar_is_a_display_emptied_at_the_end(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("nbval")

    class RecordingClient(nbclient.NotebookClient):
        """Keeps every display message the kernel sent, to see the bar while it was live."""

        def process_message(self, msg, cell, cell_index):
            if msg["msg_type"] in ("display_data", "update_display_data"):
                self.display_messages.append(msg)
            return super().process_message(msg, cell, cell_index)

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(CELL))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    client = RecordingClient(nb, timeout=300, kernel_name="python3",
                             resources={"metadata": {"path": str(tmp_path)}})
    client.display_messages = []
    client.execute()
    outputs = nb.cells[0].outputs
    kinds = [(o["output_type"], o.get("name")) for o in outputs]
    assert ("stream", "stderr") not in kinds                        # never stderr in a kernel
    text = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert text == "before\nafter jupyter 2\n"
    displays = [o for o in outputs if o["output_type"] == "display_data"]
    assert len(displays) == 2                  # the loop's bar and fit's (one for all epochs)
    assert all(o["data"] == {} for o in displays)                 # stored: empty, no timings
    # while live, the bar showed its progress; its last update emptied it
    shown = [m["content"]["data"].get("text/plain", "") for m in client.display_messages]
    assert any("loop: 100.0%" in s and "40/40" in s for s in shown)
    assert any("epoch 2/2:" in s for s in shown)
    assert client.display_messages[-1]["content"]["data"] == {}
    # and nbval, which records a display's first state, agrees with the stored notebook
    path = tmp_path / "progress.ipynb"
    nbformat.write(nb, str(path))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-q",
         "-p", "no:cacheprovider", "-o", "addopts=", str(path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout
    json.loads(path.read_text())                                    # a valid notebook file
