"""The built book in a real browser: every page of the table of contents in headless Chromium.

The HTML is served on 127.0.0.1 (an ephemeral port, a thread of
``http.server``) and one headless Chromium (the system's, driven over the
DevTools protocol by ``tools/cdp.py``) opens every page of ``_toc.yml`` in
turn and checks that

* MathJax rendered the math: every math element holds a MathJax container,
  no TeX error, no raw ``\\(``, ``\\[``, ``$$`` or TeX command left in the text;
* every image loaded (``naturalWidth > 0``);
* the page raised no console error, uncaught exception or failed load;
* notebook pages have Binder and Colab launch buttons for this repository,
  branch and notebook (``_config.yml``), and do not show the set-up cell;
* exercise solutions are hidden until their toggle is clicked, then shown;
* every local link resolves to a file that exists, and its ``#anchor`` to an
  element of that file;
* no code cell or code block scrolls sideways in the 1280 px window (88
  characters fit);

and that the search page finds the softmax chapter for "softmax". Screenshots
of the home page, the softmax chapter and a convolution chapter are saved in
``_build/screenshots/`` (``BOOK_SCREENSHOTS`` overrides the folder).

The interactive figures of chapters 7-9 (``[data-explorer]``, wired by
``book/_static/explorers.js``) are clicked through, every selectable cell of
every case, plus a keyboard selection (arrow key, Enter); the cells the page
marks ``data-linked`` must be those that ``companion.teaching.explorer_links``
computes in Python (index math that ``tests/teaching/test_explorers.py`` holds
to the package's backward functions). A screenshot of each case of each figure,
a cell selected, is saved as ``explorer-<figure>-<case>.png``.

Chapter 5's computational graph (``[data-explorer="backprop-graph"]``, wired by the
same script) is clicked through too: every node (the nodes and edges marked
``data-linked`` must be ``companion.teaching.graph_links``), a keyboard selection,
and the step buttons: *forward step* must reveal the values that
``companion.teaching.graph_data`` computes, node by node in topological order,
*backward step* (refused until the forward pass is done) the gradients in reverse
order, with the two terms of the fan-out's sum, and *reset* hide them again. Its
screenshot, at the fan-out's backward step, is ``explorer-backprop-graph-silu.png``.

Which HTML: ``BOOK_HTML`` (a built ``_build/html`` folder) if set; else
``_build/html`` when it is at least as new as the book's sources (``make book``
first, as ``.ci/run`` does); else the book is built strictly into a temporary
folder. Skipped only when no Chromium is installed (``CHROMIUM`` names one).
"""
from __future__ import annotations

import base64
import functools
import html
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from cdp import Browser, CDPError, find_chromium  # noqa: E402

SCREENSHOTS = {"home": "intro", "softmax": "softmax", "convolution": "convolution"}
STRICT = ["build", ".", "-W", "-n", "--keep-going"]          # as `make book`


# --------------------------------------------------------------------------
# The book: table of contents, configuration, built HTML
# --------------------------------------------------------------------------

class TocPage(NamedTuple):
    file: str               # "book/04_softmax", as in _toc.yml
    html: str               # "book/04_softmax.html", relative to the HTML root
    notebook: bool          # the source is a .ipynb


def toc_pages() -> list[TocPage]:
    """Every page of ``_toc.yml`` (root, parts, chapters, sections), in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("chapters"))
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    walk(toc.get("sections"))
    pages = []
    for f in files:
        stem = re.sub(r"\.(ipynb|md)$", "", f)
        pages.append(TocPage(stem, stem + ".html", (ROOT / (stem + ".ipynb")).is_file()))
    return pages


def book_config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def _sources() -> list[Path]:
    """Files whose change changes the HTML."""
    found = [ROOT / "_config.yml", ROOT / "_toc.yml"]
    found += [p for p in (ROOT / "book").rglob("*") if p.is_file()
              and ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts]
    extensions = (book_config().get("sphinx") or {}).get("local_extensions") or {}
    found += [ROOT / folder / f"{name}.py" for name, folder in extensions.items()]
    return [p for p in found if p.is_file()]


def stale_reason(html_dir: Path) -> str | None:
    """Why ``html_dir`` is not a build of the current sources (``None``: it is)."""
    stamp = html_dir / "searchindex.js"          # rewritten by every build
    if not stamp.is_file():
        return f"{html_dir} holds no built book"
    built = stamp.stat().st_mtime
    newer = [p for p in _sources() if p.stat().st_mtime > built]
    if newer:
        return f"{newer[0].relative_to(ROOT)} is newer than {html_dir}"
    missing = [p.html for p in toc_pages() if not (html_dir / p.html).is_file()]
    if missing:
        return f"{html_dir} lacks {missing[0]}"
    return None


@pytest.fixture(scope="module")
def html_dir(tmp_path_factory) -> Path:
    override = os.environ.get("BOOK_HTML")
    if override:
        path = Path(override)
        if not (path / "index.html").is_file():
            pytest.fail(f"BOOK_HTML={override} is not a built book (no index.html)")
        missing = [p.html for p in toc_pages() if not (path / p.html).is_file()]
        if missing:
            pytest.fail(f"BOOK_HTML={override} lacks {len(missing)} page(s) of _toc.yml, e.g. "
                        f"{missing[0]}: rebuild it")
        return path
    built = ROOT / "_build" / "html"
    why = stale_reason(built)
    if why is None:
        return built
    out = tmp_path_factory.mktemp("book")
    subprocess.run([sys.executable, str(ROOT / "tools" / "fetch_mathjax.py")], cwd=ROOT,
                   check=True, capture_output=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    command = [str(jb) if jb.is_file() else "jupyter-book", *STRICT, "--path-output", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        pytest.fail(f"{why}; building the book strictly failed:\n"
                    f"{(result.stdout + result.stderr)[-4000:]}")
    return out / "_build" / "html"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(html_dir):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0),
                                functools.partial(_QuietHandler, directory=str(html_dir)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    executable = os.environ.get("CHROMIUM") or find_chromium()
    if not executable:
        pytest.skip("no Chromium installed (apt-get install chromium, or set CHROMIUM=/path); "
                    "the browser test needs one")
    with Browser(executable, width=1280, height=900) as b:
        yield b


# --------------------------------------------------------------------------
# Visiting every page once
# --------------------------------------------------------------------------

_WAIT_FOR_MATHJAX = """(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  return true;
})()"""

_MATH = r"""(() => {
  const math = [...document.querySelectorAll('.math')];
  const untypeset = math.filter(m => !m.querySelector('mjx-container'))
                        .map(m => m.textContent.trim().slice(0, 80));
  const errors = [...document.querySelectorAll('mjx-merror')]
                        .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80));
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight';
  const raw = [];
  const tex = /\\\(|\\\)|\\\[|\\\]|\$\$|\\(frac|sum|partial|mathbb|mathrm|begin\{|end\{)/;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement && node.parentElement.closest(skip)) continue;
    if (tex.test(node.nodeValue)) raw.push(node.nodeValue.trim().slice(0, 100));
  }
  return {elements: math.length, containers: document.querySelectorAll('mjx-container').length,
          untypeset, errors, raw};
})()"""

_IMAGES = """(async () => {
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(done => {
    i.addEventListener('load', done); i.addEventListener('error', done); setTimeout(done, 10000);
  })));
  return imgs.map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}));
})()"""

_PAGE = """(() => ({
  hrefs: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  absolute: [...document.querySelectorAll('a[href]')].map(a => a.href),
  text: document.body.innerText,
  solutions: document.querySelectorAll('.solution').length,
  wide: [...document.querySelectorAll('div.cell_input pre, div.highlight-python pre')]
          .filter(p => p.scrollWidth > p.clientWidth + 1)
          .map(p => p.textContent.split('\\n')
                     .reduce((a, b) => (a.length >= b.length ? a : b), '').slice(0, 100)),
}))()"""

_SOLUTION_STATE = """((i) => {
  const el = document.querySelectorAll('.solution')[i];
  const body = el.querySelector(':scope > section') || el.querySelector(':scope > :not(.admonition-title)');
  const visible = !!body && body.getClientRects().length > 0 && body.offsetHeight > 0
                  && getComputedStyle(body).visibility !== 'hidden';
  return {id: el.id, visible};
})(%d)"""

_SOLUTION_TARGET = """((i) => {
  const el = document.querySelectorAll('.solution')[i];
  el.scrollIntoView({block: 'center'});
  const target = el.querySelector('button.toggle-button') || el.querySelector('.admonition-title');
  const r = target.getBoundingClientRect();
  return {x: r.left + Math.min(r.width / 2, 12), y: r.top + r.height / 2};
})(%d)"""


class Visit(NamedTuple):
    page: TocPage
    url: str
    math: dict
    images: list
    errors: list
    hrefs: list
    absolute: list
    text: str
    solutions: list           # (id, hidden before the click, shown after it)
    wide: list                # the longest line of each code box that scrolls sideways


def _check_solutions(browser: Browser, count: int) -> list[tuple[str, bool, bool]]:
    results = []
    for i in range(count):
        before = browser.evaluate(_SOLUTION_STATE % i)
        target = browser.evaluate(_SOLUTION_TARGET % i)
        time.sleep(0.05)                          # let the scroll settle
        browser.click(target["x"], target["y"])
        shown = False
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and not shown:
            shown = browser.evaluate(_SOLUTION_STATE % i)["visible"]
            if not shown:
                time.sleep(0.05)
        results.append((before["id"], not before["visible"], shown))
    return results


def _screenshot_name(page: TocPage, pages: list[TocPage]) -> str | None:
    chapters = [p for p in pages if "/exercises/" not in p.file]
    for name, word in SCREENSHOTS.items():
        first = next((p for p in chapters if word in Path(p.file).name), None)
        if first == page:
            return name
    return None


@pytest.fixture(scope="module")
def visits(browser, server) -> dict[str, Visit]:
    pages = toc_pages()
    shots = Path(os.environ.get("BOOK_SCREENSHOTS") or ROOT / "_build" / "screenshots")
    out = {}
    for page in pages:
        url = server + page.html
        try:
            browser.navigate(url)
            browser.evaluate(_WAIT_FOR_MATHJAX, await_promise=True, timeout=60)
            math = browser.evaluate(_MATH)
            images = browser.evaluate(_IMAGES, await_promise=True, timeout=30)
            info = browser.evaluate(_PAGE)
            name = _screenshot_name(page, pages)
            if name:
                browser.evaluate("window.scrollTo(0, 0)")
                browser.screenshot(shots / f"{name}.png", max_height=5000)
            solutions = _check_solutions(browser, info["solutions"])
        except CDPError as exc:
            pytest.fail(f"{page.html}: the browser could not check the page: {exc}")
        out[page.html] = Visit(page, url, math, images, list(browser.errors), info["hrefs"],
                               info["absolute"], info["text"], solutions, info["wide"])
    return out


def _report(problems: list[str], what: str) -> None:
    assert not problems, f"{len(problems)} {what}:\n" + "\n".join(problems)


# --------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------

def test_every_toc_page_was_opened(visits):
    assert set(visits) == {p.html for p in toc_pages()}
    assert len(visits) >= 3


def test_math_is_rendered_by_mathjax(visits):
    problems = []
    for v in visits.values():
        m = v.math
        if m["untypeset"]:
            problems.append(f"{v.page.html}: {len(m['untypeset'])} of {m['elements']} math elements "
                            f"not typeset by MathJax, e.g. {m['untypeset'][0]!r}")
        for err in m["errors"]:
            problems.append(f"{v.page.html}: MathJax error {err!r}")
        for raw in m["raw"][:3]:
            problems.append(f"{v.page.html}: raw TeX in the text: {raw!r}")
    _report(problems, "math problems")
    assert any(v.math["containers"] > 0 for v in visits.values()), "no page has typeset math"


def test_every_image_loads(visits):
    problems = [f"{v.page.html}: image {img['src']!r} did not load"
                for v in visits.values() for img in v.images if not img["ok"]]
    _report(problems, "broken images")
    assert sum(len(v.images) for v in visits.values()) > 0, "the book has no image at all?"


def test_no_console_errors(visits):
    problems = [f"{v.page.html}: {e.kind}: {e.text}" for v in visits.values() for e in v.errors]
    _report(problems, "console errors")


def _launch_urls(page: TocPage) -> tuple[str, str, str]:
    cfg = book_config()
    repo = cfg["repository"]
    org_repo = "/".join(urlsplit(repo["url"]).path.strip("/").split("/")[:2])
    org_repo = org_repo.removesuffix(".git")
    branch = repo.get("branch", "master")
    path = "/".join(p for p in (repo.get("path_to_book", "").strip("/"), page.file + ".ipynb") if p)
    buttons = cfg["launch_buttons"]
    binder = f"{buttons['binderhub_url'].rstrip('/')}/v2/gh/{org_repo}/{branch}"
    colab = f"{buttons['colab_url'].rstrip('/')}/github/{org_repo}/blob/{branch}/{path}"
    return binder, colab, path


def test_code_fits_the_page(visits):
    """In the 1280 px window, no code cell and no code block of the text scrolls
    sideways: the code's 88 characters fit (book/_static/reading.css)."""
    _report([f"{v.page.html}: {len(v.wide)} code box(es) scroll sideways, e.g. {v.wide[0]!r}"
             for v in visits.values() if v.wide], "pages whose code does not fit")


def test_notebook_pages_have_binder_and_colab_buttons(visits):
    notebooks = [v for v in visits.values() if v.page.notebook]
    assert notebooks, "no notebook page in the table of contents"
    problems = []
    for v in notebooks:
        binder, colab, path = _launch_urls(v.page)
        if not any(h.startswith(binder) and h.endswith(path) for h in v.absolute):
            problems.append(f"{v.page.html}: no Binder button {binder}...{path}")
        if colab not in v.absolute:
            problems.append(f"{v.page.html}: no Colab button {colab}")
    _report(problems, "missing launch buttons")


def test_notebook_pages_hide_the_setup_cell(visits):
    problems = [f"{v.page.html}: the set-up cell is shown (tag it remove-cell)"
                for v in visits.values() if v.page.notebook and "_companion_setup" in v.text]
    _report(problems, "visible set-up cells")


def test_solutions_are_hidden_until_clicked(visits):
    problems = []
    for v in visits.values():
        for sid, hidden, shown in v.solutions:
            if not hidden:
                problems.append(f"{v.page.html}: solution {sid!r} is visible before any click")
            if not shown:
                problems.append(f"{v.page.html}: solution {sid!r} is still hidden after a click "
                                "on its toggle")
    _report(problems, "solution dropdown problems")
    if any("/exercises/" in p.file for p in toc_pages()):
        assert any(v.solutions for v in visits.values()), \
            "the table of contents lists exercise pages but no page has a solution dropdown"


_ID = re.compile(r"""\s(?:id|name)\s*=\s*["']([^"']*)["']""")


@functools.lru_cache(maxsize=None)
def _anchors(path: Path) -> frozenset[str]:
    return frozenset(html.unescape(m) for m in _ID.findall(path.read_text(errors="replace")))


def test_internal_links_resolve(visits, server, html_dir):
    origin = urlsplit(server)
    checked, problems = set(), []
    for v in visits.values():
        for href in v.hrefs:
            if re.match(r"^(mailto|javascript|data|tel):", href):
                continue
            target = urlsplit(urljoin(v.url, href))
            if (target.scheme, target.netloc) != (origin.scheme, origin.netloc):
                continue                                   # another site: not checked offline
            path = unquote(target.path).lstrip("/")
            fragment = unquote(target.fragment)
            key = (path, fragment)
            if key in checked:
                continue
            checked.add(key)
            file = html_dir / path
            if path == "" or path.endswith("/"):
                file = file / "index.html"
            if not file.is_file():
                problems.append(f"{v.page.html}: link {href!r} -> missing file {path or '/'}")
            elif fragment and file.suffix == ".html" and fragment not in _anchors(file):
                problems.append(f"{v.page.html}: link {href!r} -> no element id {fragment!r} "
                                f"in {file.relative_to(html_dir)}")
    _report(problems, "broken internal links")
    assert len(checked) > len(visits), "suspiciously few links checked"


def test_search_finds_the_softmax_chapter(browser, server, visits):
    softmax = [p for p in toc_pages() if "softmax" in p.file and "/exercises/" not in p.file]
    assert softmax, "no softmax chapter in the table of contents"
    browser.navigate(server + "search.html?q=softmax")
    found = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = browser.evaluate(
            "[...document.querySelectorAll('#search-results a')].map(a => a.href)")
        if any(softmax[0].html in href for href in found):
            break
        time.sleep(0.1)
    assert any(softmax[0].html in href for href in found), \
        f"search.html?q=softmax: no result links to {softmax[0].html}; results: {found[:10]}"
    errors = [f"{e.kind}: {e.text}" for e in browser.errors]
    assert not errors, f"search.html: console errors {errors}"


def test_screenshots_were_saved(visits):
    shots = Path(os.environ.get("BOOK_SCREENSHOTS") or ROOT / "_build" / "screenshots")
    pages = toc_pages()
    expected = {name for p in pages if (name := _screenshot_name(p, pages))}
    assert "home" in expected or "softmax" in expected
    for name in expected:
        png = shots / f"{name}.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{png} missing"
        assert png.stat().st_size > 10_000, f"{png} is suspiciously small"


# --------------------------------------------------------------------------
# The interactive figures of chapters 7-9
# --------------------------------------------------------------------------

EXPLORER_CHAPTERS = ("convolution_forward", "convolution_backward", "pooling")

_EXPLORER_FIGURES = """(() => [...document.querySelectorAll('[data-explorer]')].map(fig => ({
  name: fig.getAttribute('data-explorer'), wired: fig.getAttribute('data-wired'),
  cases: [...fig.querySelectorAll('[data-case]')].map(c => c.getAttribute('data-case')),
})))()"""

# Click every selectable cell of figure i (its case shown first by its button) and
# read back what the page marked.
_EXPLORER_CLICKS = """((i) => {
  const fig = document.querySelectorAll('[data-explorer]')[i];
  const marked = (sel) => [...fig.querySelectorAll(sel)].map(e => e.getAttribute('data-cell'));
  const out = {};
  for (const cell of fig.querySelectorAll('[role="gridcell"][data-cell]')) {
    const id = cell.getAttribute('data-cell');
    const button = fig.querySelector('[data-case-button="' + id.split('/')[0] + '"]');
    if (button) button.click();
    cell.click();
    out[id] = {selected: marked('[aria-selected="true"]'),
               linked: marked('[data-linked="true"]').sort(),
               visible: cell.getClientRects().length > 0,
               status: fig.querySelector('.xp-status').textContent};
  }
  return out;
})(%d)"""

_EXPLORER_FOCUS = """((i) => {
  const fig = document.querySelectorAll('[data-explorer]')[i];
  const first = fig.querySelector('[data-case]:not([hidden]) [role="gridcell"][data-cell]');
  first.scrollIntoView({block: 'center'});
  first.focus();
  return {id: first.getAttribute('data-cell'), focused: document.activeElement === first};
})(%d)"""

_EXPLORER_SELECTED = """((i) => {
  const fig = document.querySelectorAll('[data-explorer]')[i];
  const marked = (sel) => [...fig.querySelectorAll(sel)].map(e => e.getAttribute('data-cell'));
  return {selected: marked('[aria-selected="true"]'), linked: marked('[data-linked="true"]').sort(),
          focused: document.activeElement && document.activeElement.getAttribute('data-cell')};
})(%d)"""

_EXPLORER_SHOW = """((cell, i, key) => {
  const fig = document.querySelectorAll('[data-explorer]')[i];
  const button = fig.querySelector('[data-case-button="' + key + '"]');
  if (button) button.click();
  const panel = fig.querySelector('[data-case="' + key + '"]');
  const cells = [...panel.querySelectorAll('[role="gridcell"][data-cell]')];
  const pick = cells.find(c => c.getAttribute('data-cell') === key + '/' + cell) || cells[0];
  pick.click();
  fig.scrollIntoView({block: 'center'});
  const r = fig.getBoundingClientRect();
  return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width,
          height: r.height};
})(%s, %d, %s)"""

# The cell selected in each figure's screenshots (in every case).
SHOT_CELL = {"conv-forward": "out:0:1:1", "conv-backward": "dout:0:1:1",
             "pool-backward": "dout:0:0:1"}


def _press(browser: Browser, key: str, code: int) -> None:
    for kind in ("rawKeyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", type=kind, key=key, code=key,
                     windowsVirtualKeyCode=code, nativeVirtualKeyCode=code)


def _cell_after(cell: str, links: dict) -> str:
    """The selectable cell right of ``cell`` in its grid (the arrow key's target)."""
    head, row, col = cell.rsplit(":", 2)
    right = f"{head}:{row}:{int(col) + 1}"
    return right if right in links else cell


def test_explorers_link_the_cells_the_package_computes(browser, server):
    from companion.teaching import EXPLORERS, explorer_links

    pages = [p for p in toc_pages() if "/exercises/" not in p.file
             and any(word in Path(p.file).name for word in EXPLORER_CHAPTERS)]
    assert len(pages) == len(EXPLORER_CHAPTERS), [p.file for p in pages]
    shots = Path(os.environ.get("BOOK_SCREENSHOTS") or ROOT / "_build" / "screenshots")
    seen, problems, clicked = [], [], 0
    for page in pages:
        browser.navigate(server + page.html)
        browser.evaluate(_WAIT_FOR_MATHJAX, await_promise=True, timeout=60)
        figures = browser.evaluate(_EXPLORER_FIGURES)
        if not figures:
            problems.append(f"{page.html}: no interactive figure")
        for i, figure in enumerate(figures):
            name = figure["name"]
            seen.append(name)
            if figure["wired"] != "true":
                problems.append(f"{page.html}: figure {name!r} was not wired by explorers.js")
                continue
            expected = explorer_links(name)            # computed here, in Python
            found = browser.evaluate(_EXPLORER_CLICKS % i, timeout=120)
            if set(found) != set(expected):
                problems.append(f"{page.html}: {name}: selectable cells differ: "
                                f"{sorted(set(found) ^ set(expected))[:5]}")
            for cell, state in found.items():
                clicked += 1
                want = sorted(expected.get(cell, []))
                if state["selected"] != [cell]:
                    problems.append(f"{page.html}: {cell}: selected {state['selected']}")
                if state["linked"] != want:
                    problems.append(f"{page.html}: {cell}: linked {state['linked']}, "
                                    f"expected {want}")
                if not state["visible"] or not state["status"].strip():
                    problems.append(f"{page.html}: {cell}: hidden, or no sentence shown")
            # the keyboard: focus the first cell, move right, select with Enter
            start = browser.evaluate(_EXPLORER_FOCUS % i)
            if not start["focused"]:
                problems.append(f"{page.html}: {name}: its first cell takes no focus")
            _press(browser, "ArrowRight", 39)
            _press(browser, "Enter", 13)
            target = _cell_after(start["id"], expected)
            state = browser.evaluate(_EXPLORER_SELECTED % i)
            if (state["focused"], state["selected"]) != (target, [target]) \
                    or state["linked"] != sorted(expected[target]):
                problems.append(f"{page.html}: {name}: ArrowRight + Enter from {start['id']} "
                                f"gave {state}, expected {target} selected")
            for key in figure["cases"]:
                box = browser.evaluate(_EXPLORER_SHOW % (json.dumps(SHOT_CELL.get(name)),
                                                         i, json.dumps(key)))
                time.sleep(0.05)
                clip = {k: box[k] for k in ("x", "y", "width", "height")} | {"scale": 1}
                data = browser.call("Page.captureScreenshot", format="png", clip=clip,
                                    captureBeyondViewport=False)["data"]
                png = shots / f"explorer-{name}-{key}.png"
                png.parent.mkdir(parents=True, exist_ok=True)
                png.write_bytes(base64.b64decode(data))
        problems += [f"{page.html}: {e.kind}: {e.text}" for e in browser.errors]
    _report(problems, "interactive figure problems")
    assert sorted(seen) == sorted(EXPLORERS), seen
    assert clicked == sum(len(explorer_links(n)) for n in EXPLORERS)


# Chapter 5's computational graph: nodes selected, values forward, gradients backward

_GRAPH_NODES = """(() => {
  const fig = document.querySelector('[data-explorer="backprop-graph"]');
  if (!fig) return null;
  const marked = (sel) => [...fig.querySelectorAll(sel)].map(
      e => e.getAttribute('data-cell'));
  const out = {wired: fig.getAttribute('data-wired'), nodes: {}};
  for (const node of fig.querySelectorAll('[role="option"][data-cell]')) {
    node.click();
    out.nodes[node.getAttribute('data-cell')] = {
      selected: marked('[aria-selected="true"]'),
      linked: marked('[data-linked="true"]').sort(),
      dirs: Object.fromEntries([...fig.querySelectorAll('[data-linked="true"]')].map(
        e => [e.getAttribute('data-cell'), e.getAttribute('data-dir')])),
      visible: node.getClientRects().length > 0,
      status: fig.querySelector('.xp-status').textContent};
  }
  return out;
})()"""

_GRAPH_FOCUS = """(() => {
  const fig = document.querySelector('[data-explorer="backprop-graph"]');
  const first = fig.querySelector('[role="option"][data-cell]');
  first.scrollIntoView({block: 'center'});
  first.focus();
  return {id: first.getAttribute('data-cell'),
          focused: document.activeElement === first};
})()"""

_GRAPH_SELECTED = """(() => {
  const fig = document.querySelector('[data-explorer="backprop-graph"]');
  const marked = (sel) => [...fig.querySelectorAll(sel)].map(
      e => e.getAttribute('data-cell'));
  const active = document.activeElement;
  return {selected: marked('[aria-selected="true"]'),
          linked: marked('[data-linked="true"]').sort(),
          focused: active && active.getAttribute('data-cell')};
})()"""

# The state after pressing button ``kind`` (null: no press): what each node shows.
# (A press is a click: the buttons are <button> elements, so Enter and Space click.)
_GRAPH_PRESS = """((kind) => {
  const fig = document.querySelector('[data-explorer="backprop-graph"]');
  if (kind) fig.querySelector('[data-step-button="' + kind + '"]').click();
  const shown = (el) => el.getAttribute('data-shown') !== 'false'
                        && getComputedStyle(el).visibility !== 'hidden';
  const texts = (sel) => Object.fromEntries(
      [...fig.querySelectorAll(sel)].filter(shown).map(
          e => [e.closest('[data-cell]').getAttribute('data-cell'), e.textContent]));
  return {
    values: texts('.gx-node [data-part="value"]'),
    grads: texts('.gx-node .gx-grad'), sums: texts('.gx-node .gx-sum'),
    edges: texts('.gx-edge-grad'),
    current: [...fig.querySelectorAll('[data-current="true"]')].map(
        e => e.getAttribute('data-cell')),
    disabled: Object.fromEntries([...fig.querySelectorAll('[data-step-button]')].map(
        b => [b.getAttribute('data-step-button'), b.getAttribute('aria-disabled')])),
    status: fig.querySelector('.xp-status').textContent};
})(%s)"""

_GRAPH_SHOT = """(() => {
  const fig = document.querySelector('[data-explorer="backprop-graph"]');
  if (document.activeElement) document.activeElement.blur();
  fig.scrollIntoView({block: 'center'});
  const r = fig.getBoundingClientRect();
  return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width,
          height: r.height};
})()"""


def _graph_expected(data, forward: int, backward: int) -> dict:
    """What the figure must show after ``forward`` and ``backward`` steps."""
    nodes = {n["id"]: n for n in data["nodes"]}
    done = set(data["backward"][:backward])
    return {
        "values": {i: f"{nodes[i]['name']} = {nodes[i]['value']}"
                   for i in data["forward"][:forward]},
        "grads": {i: f"\u2202L/\u2202{nodes[i]['name']} = {nodes[i]['grad']}"
                  for i in data["backward"][:backward]},
        "sums": {i: nodes[i]["sum"] for i in done if nodes[i]["sum"]},
        "edges": {e["id"]: f"\u2190 {e['grad']}" for e in data["edges"]
                  if e["target"] in done and nodes[e["source"]]["sum"]},
    }


def test_graph_explorer_steps_and_links(browser, server):
    from companion.teaching import graph_data, graph_links

    pages = [p for p in toc_pages() if "/exercises/" not in p.file
             and "backpropagation" in Path(p.file).name]
    assert len(pages) == 1, [p.file for p in pages]
    browser.navigate(server + pages[0].html)
    browser.evaluate(_WAIT_FOR_MATHJAX, await_promise=True, timeout=60)
    data, expected = graph_data(), graph_links()
    found = browser.evaluate(_GRAPH_NODES)
    assert found, f"{pages[0].html}: no figure [data-explorer=backprop-graph]"
    assert found["wired"] == "true", "the graph was not wired by explorers.js"
    problems = []
    assert list(found["nodes"]) == data["forward"]
    for node, state in found["nodes"].items():
        if state["selected"] != [node]:
            problems.append(f"{node}: selected {state['selected']}")
        if state["linked"] != expected[node] or state["dirs"] != data["notes"][node]:
            problems.append(f"{node}: linked {state['dirs']}, "
                            f"expected {data['notes'][node]}")
        if not state["visible"] or state["status"] != data["details"][node]:
            problems.append(f"{node}: hidden, or status {state['status']!r}")
    # the keyboard: focus the first node, move right, select with Enter
    start = browser.evaluate(_GRAPH_FOCUS)
    _press(browser, "ArrowRight", 39)
    _press(browser, "Enter", 13)
    second = data["forward"][1]
    state = browser.evaluate(_GRAPH_SELECTED)
    if not start["focused"] \
            or (state["focused"], state["selected"]) != (second, [second]) \
            or state["linked"] != expected[second]:
        problems.append(f"ArrowRight + Enter from {start} gave {state}, "
                        f"expected {second}")
    # the steps: nothing shown, backward refused, then forward and backward node by node
    n = len(data["forward"])
    state = browser.evaluate(_GRAPH_PRESS % "null")
    empty = _graph_expected(data, 0, 0)
    if {k: state[k] for k in empty} != empty or state["disabled"] != {
            "forward": "false", "backward": "true", "reset": "true"}:
        problems.append(f"initial state {state}")
    state = browser.evaluate(_GRAPH_PRESS % '"backward"')
    if state["values"] or "forward pass first" not in state["status"]:
        problems.append(f"backward step before the forward pass: {state}")
    for kind, steps in (("forward", data["steps"]["forward"]),
                        ("backward", data["steps"]["backward"])):
        for k, step in enumerate(steps, 1):
            state = browser.evaluate(_GRAPH_PRESS % json.dumps(kind))
            want = _graph_expected(data, k if kind == "forward" else n,
                                   k if kind == "backward" else 0)
            if {key: state[key] for key in want} != want:
                problems.append(f"{kind} step {k}: shown {state}, expected {want}")
            if sorted(state["current"]) != sorted([step["node"], *step["edges"]]) \
                    or not state["status"].endswith(step["text"]):
                problems.append(f"{kind} step {k}: current {state['current']}, "
                                f"status {state['status']!r}")
            if step["node"] == "silu/node:z" and kind == "backward":
                z = next(nd for nd in data["nodes"] if nd["id"] == step["node"])
                terms = z["sum"].split(" + ")
                if len(terms) != 2 or not all(t in state["status"] for t in terms) \
                        or state["sums"].get(step["node"]) != z["sum"]:
                    problems.append(f"the fan-out step shows {state}")
                box = browser.evaluate(_GRAPH_SHOT)
                time.sleep(0.05)
                clip = {key: box[key] for key in ("x", "y", "width", "height")}
                shot = browser.call("Page.captureScreenshot", format="png",
                                    clip=clip | {"scale": 1},
                                    captureBeyondViewport=False)["data"]
                shots = Path(os.environ.get("BOOK_SCREENSHOTS")
                             or ROOT / "_build" / "screenshots")
                shots.mkdir(parents=True, exist_ok=True)
                (shots / "explorer-backprop-graph-silu.png").write_bytes(
                    base64.b64decode(shot))
    if state["disabled"] != {"forward": "true", "backward": "true", "reset": "false"}:
        problems.append(f"after every step: buttons {state['disabled']}")
    state = browser.evaluate(_GRAPH_PRESS % '"reset"')
    if {k: state[k] for k in empty} != empty or state["current"]:
        problems.append(f"reset left {state}")
    problems += [f"{pages[0].html}: {e.kind}: {e.text}" for e in browser.errors]
    _report(problems, "computational graph problems")
