"""Download a data file once, verify its checksum, keep it in a cache.

Every data file the package uses is checked against a published MD5 before it
is used. A missing file is fetched from a list of mirrors tried in order: the
bytes stream into a temporary file next to the destination while their MD5 is
computed, and only a file whose checksum matches is renamed into place (an
atomic :func:`os.replace`), so an interrupted or corrupt download never leaves
a file that looks complete.

A progress bar (:class:`companion._progress.ProgressBar`) goes to ``sys.stderr``
only when it is a terminal (or when the caller asks for it; in a Jupyter kernel
it is then a display that is emptied at the end): a notebook that finds its
data already present prints nothing.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import stat
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from companion._progress import ProgressBar

__all__ = [
    "ChecksumError",
    "DownloadError",
    "default_cache_dir",
    "md5sum",
    "verify_md5",
    "is_writable_dir",
    "download_file",
]

_CHUNK = 1 << 16
_USER_AGENT = "companion-datasets/0.1 (Python urllib)"


class ChecksumError(ValueError):
    """A file's MD5 differs from the published one."""


class DownloadError(OSError):
    """No mirror delivered a file with the expected checksum."""


def default_cache_dir() -> Path:
    """Return the per-user cache directory of the package.

    ``$XDG_CACHE_HOME/companion`` when ``XDG_CACHE_HOME`` is set and not empty,
    else ``~/.cache/companion``. The directory is not created here.
    """
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base).expanduser() if base else Path.home() / ".cache"
    return root / "companion"


def md5sum(path) -> str:
    """Return the MD5 of the file at ``path`` as 32 lowercase hex digits."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_md5_string(md5, name: str = "md5") -> str:
    if not isinstance(md5, str):
        raise TypeError(f"{name} must be a string of 32 hex digits, got {type(md5).__name__}")
    value = md5.strip().lower()
    if len(value) != 32 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"{name} must be 32 hex digits, got {md5!r}")
    return value


def verify_md5(path, md5: str) -> Path:
    """Raise :class:`ChecksumError` unless the file at ``path`` has MD5 ``md5``.

    The message names the file, the expected and the actual checksum, and how
    to fix it. The file is left where it is: a bad file is reported, never
    deleted or used silently.

    Returns
    -------
    pathlib.Path
        ``path``, verified.
    """
    expected = _check_md5_string(md5)
    path = Path(path)
    actual = md5sum(path)
    if actual != expected:
        raise ChecksumError(
            f"checksum mismatch for {path}: expected MD5 {expected}, got {actual}. "
            f"The file is corrupt or incomplete: delete it ({path}) and load again "
            "with download=True to fetch a fresh copy (or copy a good file there)."
        )
    return path


def is_writable_dir(path) -> bool:
    """Whether files can (and may) be created in directory ``path``.

    For a directory that does not exist yet, its nearest existing parent is
    checked. A directory whose permission bits grant nobody write access counts
    as read-only even for the superuser, who could override them: a data
    directory marked read-only is never written to.
    """
    p = Path(path).expanduser().absolute()
    while not p.exists():
        if p.parent == p:
            return False
        p = p.parent
    if not p.is_dir():
        return False
    mode = p.stat().st_mode
    return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(p, os.W_OK | os.X_OK)


def _progress_stream(progress):
    """The stream to draw on, or ``None`` for no progress output."""
    if progress is None:
        stream = sys.stderr
        try:
            return stream if stream is not None and stream.isatty() else None
        except (AttributeError, ValueError):
            return None
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    return sys.stderr if progress and sys.stderr is not None else None


def _check_mirrors(mirrors) -> tuple[str, ...]:
    if isinstance(mirrors, (str, bytes)) or not hasattr(mirrors, "__iter__"):
        raise TypeError(f"mirrors must be a sequence of URL strings, got {mirrors!r}")
    result = tuple(mirrors)
    if not result:
        raise ValueError("mirrors must name at least one URL")
    for url in result:
        if not isinstance(url, str):
            raise TypeError(f"mirrors must hold URL strings, got {url!r}")
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"mirrors must be http:// or https:// URLs, got {url!r}")
    return result


def _fetch(url: str, dest, expected_md5: str, timeout: float, stream) -> None:
    """Stream ``url`` into the open binary file ``dest``; check length and MD5."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = (ProgressBar(total, desc=Path(urllib.parse.urlsplit(url).path).name, unit="B",
                           progress=True, stream=stream) if stream else None)
        try:
            for block in iter(lambda: response.read(_CHUNK), b""):
                dest.write(block)
                digest.update(block)
                received += len(block)
                if bar:
                    bar.update(len(block))
        finally:
            if bar:
                bar.close()
    if total is not None and received != total:
        raise DownloadError(f"truncated: received {received} of {total} bytes")
    actual = digest.hexdigest()
    if actual != expected_md5:
        raise ChecksumError(f"checksum mismatch: expected MD5 {expected_md5}, got {actual} "
                            f"({received} bytes)")


def download_file(filename: str, dest_dir, *, md5: str, mirrors, progress=None,
                  timeout: float = 30.0) -> Path:
    """Download ``filename`` into ``dest_dir`` from the first mirror that delivers it intact.

    For each mirror in order, the URL ``mirror + filename`` is streamed into a
    temporary file in ``dest_dir``; a download that fails (HTTP error,
    connection error, timeout, fewer bytes than ``Content-Length``, wrong MD5)
    is discarded and the next mirror is tried. The first file whose MD5 equals
    ``md5`` is renamed atomically to ``dest_dir / filename``.

    Parameters
    ----------
    filename : str
        Plain file name (no directory part), appended to each mirror URL.
    dest_dir : str or os.PathLike
        Directory to store the file in; created when missing.
    md5 : str
        Expected MD5, 32 hex digits.
    mirrors : sequence of str
        Base URLs (``http://`` or ``https://``), tried in order.
    progress : bool or None
        Draw a progress bar on ``sys.stderr``. ``None`` (default): only when
        ``sys.stderr`` is a terminal, so notebooks and logs stay clean.
    timeout : float
        Seconds to wait on a silent connection before trying the next mirror.

    Returns
    -------
    pathlib.Path
        ``dest_dir / filename``, verified.

    Raises
    ------
    DownloadError
        When every mirror failed; the message lists each URL tried and why it
        failed.
    PermissionError
        When ``dest_dir`` is read-only (see :func:`is_writable_dir`); nothing
        is written.
    """
    if not isinstance(filename, str) or not filename or Path(filename).name != filename:
        raise ValueError(f"filename must be a plain file name, got {filename!r}")
    if not isinstance(dest_dir, (str, os.PathLike)):
        raise TypeError(f"dest_dir must be a str or os.PathLike, got {type(dest_dir).__name__}")
    expected = _check_md5_string(md5)
    urls = [m.rstrip("/") + "/" + urllib.parse.quote(filename) for m in _check_mirrors(mirrors)]
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    stream = _progress_stream(progress)
    dest_dir = Path(dest_dir).expanduser()
    if not is_writable_dir(dest_dir):
        raise PermissionError(f"dest_dir {dest_dir} is read-only: cannot download {filename} "
                              "into it; choose a writable directory")
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / filename
    failures = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{filename}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as tmp:
                _fetch(url, tmp, expected, float(timeout), stream)
            os.chmod(tmp_name, 0o644)  # mkstemp made it private; data files are readable
            os.replace(tmp_name, target)
            return target
        except urllib.error.HTTPError as exc:
            failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
        except urllib.error.URLError as exc:
            failures.append(f"{url}: {exc.reason}")
        except (http.client.HTTPException, socket.timeout, OSError, ValueError) as exc:
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
        finally:
            if os.path.exists(tmp_name):
                os.remove(tmp_name)
        if stream:
            stream.write(f"{failures[-1]} -- trying the next mirror\n" if url != urls[-1]
                         else f"{failures[-1]}\n")
            stream.flush()
    tried = "\n".join(f"  - {line}" for line in failures)
    raise DownloadError(
        f"could not download {filename} (expected MD5 {expected}); tried:\n{tried}\n"
        f"Without network access, copy {filename} (with that MD5) into {dest_dir} yourself."
    )
