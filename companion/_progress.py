"""A progress bar for long loops that leaves nothing in a stored notebook.

Training an epoch or downloading a data file takes long enough that a reader
wants to see it advance, but a chapter's stored outputs must not change from
one run to the next: nbval compares them, and treats anything on ``stderr`` as
a failure. :class:`ProgressBar` therefore picks where it draws:

``"terminal"``
    ``sys.stderr`` is a terminal (a script run from a shell, a terminal
    IPython). The bar is redrawn in place on one line with carriage returns;
    :meth:`~ProgressBar.close` ends the line (``leave=True``) or blanks it.
``"jupyter"``
    The code runs in a Jupyter kernel (an IPython kernel: JupyterLab, Notebook,
    VS Code, nbclient, nbval). The bar is an updating display (a display handle
    with ``text/plain`` and an HTML ``<progress>`` element). It starts out
    **empty**, is updated while the loop runs, and :meth:`~ProgressBar.close`
    updates it back to empty. A notebook stored after a run (``jupyter execute``,
    nbclient) keeps one output entry with no data in its place, which no
    renderer shows (Jupyter Book drops it without a warning), and nbval, which
    records the first state of a display and ignores its updates, sees the same
    empty entry: the stored outputs never hold a percentage, a loss or a time.
    Nothing is ever written to ``stderr`` in a kernel.
``"off"``
    No output at all: ``progress=False``, or ``progress="auto"`` when neither
    of the above applies (stderr redirected to a file or a pipe, a test run
    under pytest's capture, a CI log).

``progress`` takes ``"auto"`` (the default: the first mode that applies),
``True`` (draw even when stderr is not a terminal: ``"jupyter"`` in a kernel,
else ``"terminal"`` on ``stderr`` or the ``stream`` given) or ``False``.
``None`` means ``"auto"`` (the convention of
:func:`companion.data.download.download_file`).

Timings (elapsed time, rate) appear only in the live bar, never in anything a
notebook keeps.
"""
from __future__ import annotations

import html
import math
import numbers
import sys
import time

__all__ = ["ProgressBar", "progress_mode", "in_jupyter_kernel"]

_MODES = ("terminal", "jupyter", "off")


def in_jupyter_kernel() -> bool:
    """Whether this code runs inside a Jupyter (IPython) kernel.

    True for JupyterLab, Notebook, VS Code, nbclient and nbval kernels; False
    for a plain Python process and for the terminal IPython shell. IPython is
    not imported here: a kernel has always imported it already.
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # an IPython too old or half-initialised: not a kernel we can use
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def _is_terminal(stream) -> bool:
    try:
        return stream is not None and bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_mode(progress="auto", stream=None) -> str:
    """Resolve a ``progress`` argument to ``"terminal"``, ``"jupyter"`` or ``"off"``.

    Parameters
    ----------
    progress : {"auto", True, False, None}
        ``"auto"`` or ``None``: ``"jupyter"`` in a Jupyter kernel, else
        ``"terminal"`` when the stream is a terminal, else ``"off"``.
        ``True``: ``"jupyter"`` in a kernel, else ``"terminal"`` whatever the
        stream is. ``False``: ``"off"``.
    stream : file-like, optional
        Where a terminal bar is drawn; default ``sys.stderr``.

    Returns
    -------
    str
    """
    if progress is None or (isinstance(progress, str) and progress == "auto"):
        explicit = False
    elif isinstance(progress, bool):
        if not progress:
            return "off"
        explicit = True
    else:
        raise TypeError(f"progress must be 'auto', True, False or None, got {progress!r}")
    if in_jupyter_kernel():
        return "jupyter"
    target = sys.stderr if stream is None else stream
    if target is None:
        return "off"
    if explicit or _is_terminal(target):
        return "terminal"
    return "off"


def _format_seconds(seconds: float) -> str:
    seconds = int(seconds)
    minutes, s = divmod(seconds, 60)
    h, m = divmod(minutes, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressBar:
    """A one-line progress bar: redrawn on a terminal, a clearable display in Jupyter.

    Use it as a context manager (so that it is closed, and in Jupyter cleared,
    also when the loop raises)::

        with ProgressBar(total=len(batches), desc="epoch 1/5") as bar:
            for batch in batches:
                ...
                bar.update(1, loss=value)

    Parameters
    ----------
    total : int, optional
        Number of units when the loop is done; ``None`` when unknown (the bar
        then shows a count only).
    desc : str
        Label drawn before the bar.
    unit : {"it", "B"}
        ``"B"`` shows a count of bytes in MB (``12.3/45.6 MB``); ``"it"`` shows
        ``12/45``.
    progress : {"auto", True, False, None}
        Where to draw; see :func:`progress_mode` and the module docstring.
    stream : file-like, optional
        The stream of a terminal bar (default ``sys.stderr``). Never used in
        Jupyter.
    leave : bool
        Terminal mode: keep the last state on its own line at :meth:`close`
        (default) or blank the line. In Jupyter the display is always emptied.
    min_interval : float, >= 0
        Seconds between two redraws (default 0.1). A redraw also happens
        whenever the shown percentage changes by a whole percent, at the
        last unit and at :meth:`close`.
    width : int, >= 1
        Number of characters of the bar itself.

    Attributes
    ----------
    mode : {"terminal", "jupyter", "off"}
        Where the bar draws, resolved once at construction.
    n : int
        Units done so far.
    """

    def __init__(self, total=None, *, desc: str = "", unit: str = "it", progress="auto",
                 stream=None, leave: bool = True, min_interval: float = 0.1, width: int = 30):
        if total is not None:
            if isinstance(total, (bool, float)) or not isinstance(total, numbers.Integral):
                raise TypeError(f"total must be an integer or None, got {total!r}")
            if total < 0:
                raise ValueError(f"total must be >= 0 or None, got {total}")
            total = int(total)
        if not isinstance(desc, str):
            raise TypeError(f"desc must be a str, got {type(desc).__name__}")
        if unit not in ("it", "B"):
            raise ValueError(f"unit must be 'it' or 'B', got {unit!r}")
        if not isinstance(leave, bool):
            raise TypeError(f"leave must be True or False, got {leave!r}")
        if isinstance(min_interval, bool) or not isinstance(min_interval, numbers.Real) \
                or not math.isfinite(min_interval) or min_interval < 0:
            raise ValueError(f"min_interval must be a finite number >= 0, got {min_interval!r}")
        if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        self.total = total
        self.desc = desc
        self.unit = unit
        self.leave = leave
        self.min_interval = float(min_interval)
        self.width = int(width)
        self.mode = progress_mode(progress, stream)
        self.stream = None
        if self.mode == "terminal":
            self.stream = sys.stderr if stream is None else stream
        self.n = 0
        self.postfix = ""
        self.closed = False
        self._start = time.perf_counter()
        self._last_time = -math.inf
        self._last_percent = None
        self._last_line_len = 0
        self._handle = None
        if self.mode == "jupyter":
            from IPython.display import display
            # The display starts EMPTY: nbval records this first state (it ignores
            # updates), and close() returns to it, so stored and re-run outputs agree.
            self._handle = display({}, raw=True, display_id=True)
        self._draw(force=True)

    # ------------------------------------------------------------------ public API
    def update(self, n: int = 1, **postfix) -> None:
        """Advance by ``n`` units; keyword arguments replace the shown values.

        ``bar.update(1, loss=0.1234)`` shows ``loss=0.1234`` after the counts
        (floats with 4 significant digits).
        """
        if self.closed:
            raise ValueError("update() on a closed ProgressBar")
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        self.n += int(n)
        if postfix:
            self.set_postfix(**postfix)
        self._draw()

    def set_postfix(self, **values) -> None:
        """Show ``key=value`` pairs after the counts (does not redraw by itself)."""
        parts = []
        for key, value in values.items():
            if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
                parts.append(f"{key}={float(value):.4g}")
            else:
                parts.append(f"{key}={value}")
        self.postfix = " ".join(parts)

    def close(self) -> None:
        """Finish: draw the last state on a terminal; empty the display in Jupyter.

        Idempotent: a second call does nothing.
        """
        if self.closed:
            return
        self.closed = True
        if self.mode == "terminal":
            self._draw(force=True)
            if self.leave:
                self.stream.write("\n")
            else:
                self.stream.write("\r" + " " * self._last_line_len + "\r")
            self.stream.flush()
        elif self.mode == "jupyter":
            self._handle.update({}, raw=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def __repr__(self) -> str:
        total = "?" if self.total is None else self.total
        return f"ProgressBar(desc={self.desc!r}, {self.n}/{total}, mode={self.mode!r})"

    # ------------------------------------------------------------------ drawing
    def text(self, with_time: bool = True) -> str:
        """The current line of the bar (what the terminal shows)."""
        label = f"{self.desc}: " if self.desc else ""
        if self.unit == "B":
            done = f"{self.n / 1e6:.1f}"
            of = f"{self.total / 1e6:.1f} MB" if self.total else " MB"
        else:
            done = str(self.n)
            of = str(self.total) if self.total is not None else ""
        if self.total:
            frac = min(1.0, self.n / self.total)
            bar = "#" * int(self.width * frac)
            line = f"{label}{100 * frac:5.1f}% [{bar:<{self.width}}] {done}/{of}"
        elif self.unit == "B":
            line = f"{label}{done}{of}"
        else:
            line = f"{label}{done}" + (f"/{of}" if of else "")
        if self.postfix:
            line += f" {self.postfix}"
        if with_time:
            elapsed = time.perf_counter() - self._start
            line += f" [{_format_seconds(elapsed)}]"
        return line

    def _percent(self):
        if self.total:
            return int(100 * min(1.0, self.n / self.total))
        return self.n >> 20 if self.unit == "B" else self.n

    def _draw(self, force: bool = False) -> None:
        if self.mode == "off":
            return
        now = time.perf_counter()
        percent = self._percent()
        due = (force or percent != self._last_percent
               or now - self._last_time >= self.min_interval
               or (self.total is not None and self.n >= self.total))
        if not due:
            return
        self._last_time = now
        self._last_percent = percent
        line = self.text()
        if self.mode == "terminal":
            pad = max(0, self._last_line_len - len(line))
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()
            self._last_line_len = len(line)
        else:
            data = {"text/plain": line}
            if self.total:
                data["text/html"] = (f"<progress value='{min(self.n, self.total)}' "
                                     f"max='{self.total}' style='width:20em'></progress> "
                                     f"<code>{html.escape(line)}</code>")
            self._handle.update(data, raw=True)
