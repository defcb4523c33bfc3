"""Sphinx extension: fixes for two console errors that every page of the book raised.

Found by the browser test (``tests/book/test_browser.py``), with the pinned stack
(Sphinx 7.4, sphinx-thebe 0.3.1, pydata-sphinx-theme 0.17):

* **Duplicate inline scripts.** An inline script added with
  ``app.add_js_file(None, body=...)`` after the builder is initialised is
  written twice into every page. sphinx-thebe adds
  ``const THEBE_JS_URL = ...`` that way, so every page raised
  ``SyntaxError: Identifier 'THEBE_JS_URL' has already been declared``.
  The scripts of each page are de-duplicated here (same source and
  attributes: the first one is kept, the order is unchanged).
* **Empty theme mode.** pydata-sphinx-theme reads the default light/dark mode
  from ``html_context["default_mode"]``, empty unless set, and on a reader's
  first visit (nothing in ``localStorage``) logs ``Got invalid theme mode: .
  Resetting to auto.`` as a console error. It is set to ``"auto"`` (as the
  reader's system says) unless the book sets it.

Registered in ``_config.yml`` under ``sphinx: local_extensions``.
"""
from __future__ import annotations


def _theme_mode(app, config) -> None:
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "auto")
    config.html_context = context


def _script_key(script) -> tuple:
    """What makes two scripts the same: source file and attributes (the body of an
    inline script is an attribute). The two copies of an inline script differ only
    in ``filename``, ``None`` for one and ``""`` for the other."""
    if isinstance(script, str) and not hasattr(script, "filename"):
        return (script, ())
    attributes = getattr(script, "attributes", {}) or {}
    return (script.filename or "", tuple(sorted((str(k), str(v)) for k, v in attributes.items())))


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("config-inited", _theme_mode, priority=900)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
