"""nbgrader preprocessors that make autograding robust to bad submissions.

Loaded by ``nbgrader_config.py`` (in this folder), so every ``nbgrader``
command run from the course root uses them; ``tools/grade.py`` runs those
commands.

* :class:`RobustExecute` replaces nbgrader's ``Execute`` in ``autograde``.
  nbgrader gives up on a whole notebook when the kernel dies (``os._exit``, a
  segfault) or hangs in code that cannot be interrupted (a loop inside
  compiled code): the student then gets nothing for the cells that worked.
  Here the notebook is run again from the start in a fresh kernel with the
  offending cell *not executed* and marked with an error output (so a test
  cell there scores 0 and a solution cell there leaves its function
  undefined). Every other cell is graded as usual. A time budget for the whole
  notebook bounds the total: cells that would start after it are not run.
* :class:`LimitOutputSize` extends nbgrader's ``LimitOutput`` (which counts
  *lines*) with a limit on *characters* per output, so an answer printing
  megabytes on one line cannot bloat the graded notebook or the feedback page.
"""
from __future__ import annotations

import copy
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from traitlets import Integer

from nbgrader.preprocessors import Execute, LimitOutput

__all__ = ["RobustExecute", "LimitOutputSize"]


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class RobustExecute(Execute):
    """nbgrader's ``Execute``, surviving dead and unresponsive kernels.

    A cell whose execution kills the kernel (``DeadKernelError``) or cannot be
    interrupted after the per-cell ``timeout`` (``CellTimeoutError``) is
    skipped in a re-run of the whole notebook, at most ``max_restarts`` times.
    A cell that times out but *can* be interrupted (a plain Python loop) gets
    nbgrader's ``CellTimeoutError`` output and execution continues, as in
    nbgrader. Cells that would start after ``notebook_timeout`` seconds (all
    attempts together) are not run and get an error output.
    """

    max_restarts = Integer(
        10, help="How many times a notebook is re-run, each time without the cell that "
                 "killed or hung the kernel.").tag(config=True)
    notebook_timeout = Integer(
        900, help="Seconds for the whole notebook, all re-runs included; later cells "
                  "are not executed.").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        pristine = copy.deepcopy(nb)
        self._skipped = {}
        self._deadline = time.monotonic() + self.notebook_timeout
        attempt = 0
        while True:
            self._running = None
            work = copy.deepcopy(pristine)
            try:
                return super().preprocess(work, resources, km=km)
            except (DeadKernelError, CellTimeoutError) as exc:
                index = self._running
                if index is None or index in self._skipped or attempt >= self.max_restarts:
                    raise
                if isinstance(exc, DeadKernelError):
                    self._skipped[index] = (
                        "DeadKernelError",
                        "the kernel died while running this cell (os._exit(), a segmentation "
                        "fault, running out of memory...). The notebook was graded again "
                        "without running this cell.")
                else:
                    self._skipped[index] = (
                        "CellTimeoutError",
                        f"this cell did not finish within {self.timeout} s and could not be "
                        "interrupted. The notebook was graded again without running this cell.")
                self.log.warning("Cell %d: %s; re-running the notebook without it",
                                 index, self._skipped[index][0])
                attempt += 1

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and index in self._skipped:
            cell.outputs = [_error_output(*self._skipped[index])]
            cell.execution_count = None
            return cell, resources
        if cell.cell_type == "code" and time.monotonic() > self._deadline:
            cell.outputs = [_error_output(
                "GradingTimeLimit",
                f"not run: the notebook used up its grading time of {self.notebook_timeout} s.")]
            cell.execution_count = None
            return cell, resources
        self._running = index                # read by preprocess() when the kernel dies
        return super().preprocess_cell(cell, resources, index)


class LimitOutputSize(LimitOutput):
    """nbgrader's ``LimitOutput`` plus a cap of ``max_chars`` characters per output text."""

    max_chars = Integer(
        20000, help="Maximum number of characters of each output text (stream text, each "
                    "text-like data entry, each traceback line); -1 means no limit."
    ).tag(config=True)

    def _cut(self, text):
        if self.max_chars < 0 or not isinstance(text, str) or len(text) <= self.max_chars:
            return text
        return (text[: self.max_chars]
                + f"\n... Output truncated ({len(text)} characters, limit {self.max_chars}) ...\n")

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type != "code":
            return cell, resources
        for output in cell.outputs:
            if output.output_type == "stream":
                output.text = self._cut(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                for mime, value in list(output.get("data", {}).items()):
                    if mime.startswith("text/") or mime.endswith("json"):
                        output.data[mime] = self._cut(value) if isinstance(value, str) else value
                    elif isinstance(value, str) and len(value) > 50 * max(self.max_chars, 0) \
                            and self.max_chars >= 0:
                        del output.data[mime]          # a huge image: dropped
                if not output.get("data"):
                    output.data = {"text/plain": "[output removed: too large]"}
            elif output.output_type == "error":
                output.evalue = self._cut(output.evalue)
                output.traceback = [self._cut(line) for line in output.traceback]
        return cell, resources
