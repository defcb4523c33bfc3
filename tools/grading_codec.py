"""What a sandboxed notebook hands back to the grader: values in a format without code.

The grader never unpickles anything a submission produced. Values computed by
a student's function in the sandbox (its return value, its arguments after the
call, a short answer) are written as JSON plus an ``.npz`` file of arrays
(``allow_pickle=False``), and read back here:

* ``None``, ``...``, ``bool``, ``int``, ``float`` (NaN and infinities included),
  ``str`` are JSON values;
* NumPy arrays of numbers or booleans go to the ``.npz`` file, by key;
* NumPy scalars keep their dtype (an ``np.int64`` stays an integer);
* tuples, lists and dicts are tagged and nested (dict keys of any of the
  scalar kinds above);
* anything else becomes an :class:`Opaque` value carrying its type name and a
  short ``repr``: it compares unequal to every expected value, and the message
  shows what it was.

:func:`decode` refuses files over a size limit, nesting deeper than a limit,
and arrays of any other dtype, raising :class:`ValueError`.

The same file is copied into the sandbox, where :func:`encode` runs (with NumPy
only); this module imports nothing from the grader.
"""
from __future__ import annotations

import io
import json
import math
import numpy as np

MAX_JSON_BYTES = 8 * 2 ** 20
MAX_ARRAY_BYTES = 256 * 2 ** 20
MAX_DEPTH = 32
_ARRAY_KINDS = "biuf"


class Opaque:
    """A value of a kind the codec does not carry: its type's name and a short repr.

    Equal to nothing (not even another Opaque), so it fails every comparison.
    """

    __slots__ = ("type_name", "text")

    def __init__(self, type_name: str, text: str):
        self.type_name, self.text = type_name, text

    def __eq__(self, other):
        return False

    __hash__ = None

    def __repr__(self) -> str:
        return f"<{self.type_name}: {self.text}>"


# --------------------------------------------------------------------------
# In the sandbox
# --------------------------------------------------------------------------

def encode(value) -> tuple[str, dict]:
    """``(json_text, arrays)``: ``value`` as JSON, its arrays by key (for ``np.savez``)."""
    arrays: dict = {}
    return json.dumps(_enc(value, arrays, 0)), arrays


def _enc(v, arrays: dict, depth: int):
    if depth > MAX_DEPTH:
        return {"opaque": ["deep", "nested more than the grader reads"]}
    if isinstance(v, np.generic) and v.dtype.kind in _ARRAY_KINDS:
        return {"np": [v.dtype.str, repr(v.item())]}     # before float: np.float64 is one
    if v is Ellipsis:
        return {"ellipsis": ""}
    if v is None or isinstance(v, (bool, str)):
        return v if not isinstance(v, str) else {"str": v[:100_000]}
    if isinstance(v, int):
        return {"int": str(int(v))}
    if isinstance(v, float):
        return {"float": repr(float(v))}
    if isinstance(v, np.ndarray):
        if v.dtype.kind not in _ARRAY_KINDS or v.dtype.hasobject:
            return {"opaque": ["ndarray", f"an array of dtype {v.dtype}, shape {v.shape}"]}
        key = f"a{len(arrays)}"
        arrays[key] = np.ascontiguousarray(v)
        return {"array": key}
    if isinstance(v, tuple):
        return {"tuple": [_enc(x, arrays, depth + 1) for x in v]}
    if isinstance(v, list):
        return {"list": [_enc(x, arrays, depth + 1) for x in v]}
    if isinstance(v, dict):
        return {"dict": [[_enc(k, arrays, depth + 1), _enc(x, arrays, depth + 1)]
                         for k, x in v.items()]}
    try:
        text = repr(v)
    except BaseException:  # a student's object whose __repr__ fails
        text = "?"
    return {"opaque": [type(v).__name__, text[:200]]}


def write(path_stem: str, value) -> None:
    """Write ``value`` to ``path_stem.json`` and ``path_stem.npz``."""
    text, arrays = encode(value)
    with open(path_stem + ".npz", "wb") as fh:
        np.savez(fh, **arrays)
    with open(path_stem + ".json", "w", encoding="utf-8") as fh:
        fh.write(text)


# --------------------------------------------------------------------------
# In the grader
# --------------------------------------------------------------------------

def read(path_stem: str):
    """The value written by :func:`write`; ``ValueError`` if the files are not such a value."""
    try:
        with open(path_stem + ".json", "rb") as fh:
            raw = fh.read(MAX_JSON_BYTES + 1)
        if len(raw) > MAX_JSON_BYTES:
            raise ValueError("the result is larger than the grader reads")
        tree = json.loads(raw.decode("utf-8"))
        with open(path_stem + ".npz", "rb") as fh:
            blob = fh.read(MAX_ARRAY_BYTES + 1)
        if len(blob) > MAX_ARRAY_BYTES:
            raise ValueError("the arrays are larger than the grader reads")
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return decode(tree, arrays)
    except ValueError:
        raise
    except Exception as exc:  # missing files, broken JSON or npz, deep recursion...
        raise ValueError(f"unreadable result ({type(exc).__name__})") from None


def decode(tree, arrays: dict, depth: int = 0):
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    if tree is None or isinstance(tree, bool):
        return tree
    if not isinstance(tree, dict) or len(tree) != 1:
        raise ValueError("not a value written by the sandbox")
    (tag, body), = tree.items()
    if tag == "ellipsis":
        return Ellipsis
    if tag == "str" and isinstance(body, str):
        return body
    if tag == "int" and isinstance(body, str) and len(body) < 5000:
        return int(body)
    if tag == "float" and isinstance(body, str):
        return float(body)
    if tag == "array" and isinstance(body, str) and body in arrays:
        arr = arrays[body]
        if arr.dtype.kind not in _ARRAY_KINDS:
            raise ValueError(f"an array of dtype {arr.dtype}")
        return arr
    if tag == "np" and isinstance(body, list) and len(body) == 2:
        dtype = np.dtype(str(body[0]))
        if dtype.kind not in _ARRAY_KINDS:
            raise ValueError(f"a scalar of dtype {dtype}")
        text = str(body[1])
        number = float(text) if dtype.kind == "f" else (text == "True" if dtype.kind == "b"
                                                        else int(text))
        if dtype.kind == "f" and not math.isfinite(number):
            return dtype.type(number)
        return dtype.type(number)
    if tag in ("tuple", "list") and isinstance(body, list):
        items = [decode(x, arrays, depth + 1) for x in body]
        return tuple(items) if tag == "tuple" else items
    if tag == "dict" and isinstance(body, list):
        out = {}
        for pair in body:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError("a broken dict")
            key = decode(pair[0], arrays, depth + 1)
            if isinstance(key, (list, dict, np.ndarray)):
                raise ValueError("a dict key that is not a scalar")
            out[key] = decode(pair[1], arrays, depth + 1)
        return out
    if tag == "opaque" and isinstance(body, list) and len(body) == 2:
        return Opaque(str(body[0])[:100], str(body[1])[:200])
    raise ValueError(f"an unknown tag {tag!r:.40}")
