"""Show the package's own source code in a chapter.

The book never copies code from the package: a chapter calls
:func:`show_source` and the reader sees the function as it is in
``companion/`` (highlighted in HTML, plain text elsewhere).
"""
from __future__ import annotations

import inspect
import textwrap

__all__ = ["show_source"]


def show_source(obj):
    """Return a displayable, syntax-highlighted view of ``obj``'s source code.

    ``obj`` is a function, class or module of the package. Numba-jitted
    functions are unwrapped to their Python source (``py_func``).
    """
    from IPython.display import Code

    target = getattr(obj, "py_func", obj)
    source = textwrap.dedent(inspect.getsource(target))
    return Code(source, language="python")
