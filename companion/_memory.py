"""The package's memory policy: large arrays are reused, not mapped afresh each step.

Every training step allocates the same arrays again: activations, caches,
gradients, each from hundreds of kilobytes to tens of megabytes (document 1's
network at batch 64: 8 MB for ``conv1``'s output alone). The C library's
allocator (glibc's ``malloc``, which NumPy and Numba use) gives a block above
its *mmap threshold* fresh pages from the operating system and returns them
when it is freed, and it returns free memory at the top of its heap above the
*trim threshold*. Fresh pages are zeroed by the kernel one page fault at a
time: touching a new 8 MB array cost about 0.4 ms here, about as much as the
ReLU that fills it. glibc raises its thresholds by itself after the first
large ``free`` (up to 32 MiB), but a step frees several large arrays together
and the heap top is trimmed again.

Measured here (2 cores, batch 64, float32, median of 40 steps, three
alternating processes each): a LeNet-5 training step 11.6 -> 9.3 ms, document
1's network 58 -> 50 ms, when the thresholds below are set.

**The policy.** :func:`apply_memory_policy`, called when
:mod:`companion.functional` is imported, sets glibc's mmap threshold to
:data:`MMAP_THRESHOLD` (64 MiB; blocks up to that size come from the heap and
are reused) and its trim threshold to :data:`TRIM_THRESHOLD` (128 MiB; at most
that much free memory stays with the process). It does nothing

* on a C library other than glibc (macOS, Windows, musl): ``mallopt`` is not
  there;
* when the user has chosen the allocator's settings, through glibc's own
  variables ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or
  ``GLIBC_TUNABLES`` containing ``glibc.malloc``;
* when :data:`DISABLE_VARIABLE` (``COMPANION_DEFAULT_MALLOC``) is set to a
  non-empty value.

Results do not change: the policy says where an array's memory comes from,
never what is computed.
"""
from __future__ import annotations

import ctypes
import os

__all__ = ["DISABLE_VARIABLE", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "apply_memory_policy",
           "memory_policy_status"]

DISABLE_VARIABLE = "COMPANION_DEFAULT_MALLOC"
MMAP_THRESHOLD = 64 << 20
"""Blocks up to this many bytes come from (and return to) the heap."""
TRIM_THRESHOLD = 128 << 20
"""Free memory at the heap's top beyond this many bytes goes back to the system."""

# mallopt parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

_state: dict = {"applied": False, "reason": "not applied yet",
                "mmap_threshold": None, "trim_threshold": None}


def _user_choice() -> str | None:
    """Why the allocator's settings are the user's (``None``: they are not)."""
    if os.environ.get(DISABLE_VARIABLE, "").strip():
        return f"{DISABLE_VARIABLE} is set"
    for name in _USER_VARIABLES:
        if name in os.environ:
            return f"{name} is set"
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return "GLIBC_TUNABLES sets glibc.malloc"
    return None


def _glibc():
    """glibc's ``mallopt`` as a ctypes function, or ``None`` on another C library."""
    try:
        libc_name, version = os.confstr("CS_GNU_LIBC_VERSION").split()[:2]
    except (AttributeError, OSError, ValueError):
        return None                     # not glibc (or no way to tell)
    if libc_name != "glibc":
        return None
    try:
        # the symbols already loaded (glibc is): ctypes.util.find_library would
        # start a program (ldconfig) to look for it
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):   # pragma: no cover - glibc without mallopt
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt


def apply_memory_policy() -> bool:
    """Set glibc's mmap and trim thresholds (see the module's docstring), once.

    Returns
    -------
    bool
        ``True`` when the thresholds are in effect (set now or by an earlier
        call); ``False`` when the policy does not apply (another C library, the
        user's own settings, :data:`DISABLE_VARIABLE`), as
        :func:`memory_policy_status` says.
    """
    if _state["applied"]:
        return True
    reason = _user_choice()
    mallopt = None if reason else _glibc()
    if reason is None and mallopt is None:
        reason = "the C library is not glibc"
    if reason is None:
        # A glibc that refuses 64 MiB (older ones cap the threshold at 32 MiB)
        # gets the largest value it accepts.
        mmap = next((size for size in (MMAP_THRESHOLD, 32 << 20)
                     if mallopt(_M_MMAP_THRESHOLD, size) == 1), None)
        if mmap is None or mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1:
            reason = "mallopt refused the thresholds"
        else:
            _state.update(applied=True, reason="set by the package",
                          mmap_threshold=mmap, trim_threshold=TRIM_THRESHOLD)
            return True
    _state.update(reason=reason)
    return False


def memory_policy_status() -> dict:
    """What the memory policy is, for reports and benchmarks.

    Returns
    -------
    dict
        ``applied`` (bool), ``reason`` (a sentence), ``mmap_threshold`` and
        ``trim_threshold`` (bytes, or ``None`` when not applied).
    """
    return dict(_state)
