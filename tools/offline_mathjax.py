"""Sphinx extension: serve MathJax from the book when it has been fetched.

``tools/fetch_mathjax.py`` unpacks MathJax 3 into ``_mathjax/_static/mathjax``.
When it is there, the pages load it from ``_static/mathjax/tex-chtml.js`` and
math renders offline; when it is not, Sphinx's default (the CDN) is kept and
the build says so once.
"""
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)
LOCAL = Path("_mathjax")


def _configure(app, config):
    root = Path(app.confdir)
    local = root / LOCAL
    if (local / "_static" / "mathjax" / "tex-chtml.js").is_file():
        config.mathjax_path = "mathjax/tex-chtml.js"
        extra = list(config.html_extra_path or [])
        if str(LOCAL) not in extra:
            extra.append(str(LOCAL))
        config.html_extra_path = extra
    else:
        logger.info("offline_mathjax: no local MathJax (run tools/fetch_mathjax.py); "
                    "pages load MathJax from its CDN")


def setup(app):
    app.connect("config-inited", _configure, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
