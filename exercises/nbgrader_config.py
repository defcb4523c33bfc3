"""nbgrader configuration of the course's exercises (this folder is the course root).

Every nbgrader command reads this file when it runs in this folder; the
course's commands (``python tools/grade.py ...``, ``make exercises-...``) run
them here. No JupyterHub, no exchange and no network are needed:

    source/<assignment>/<assignment>.ipynb      the exercises WITH solutions and tests (in git)
    release/<assignment>/<assignment>.ipynb     what students get (generated)
    submitted/<student>/<assignment>/*.ipynb    what they hand back (put there by the instructor)
    autograded/, feedback/, gradebook.db, grades*.csv   results (generated)

``tools/grade.py autograde`` does not run ``nbgrader autograde``, which would
run student code with the instructor's rights in the kernel that runs the
checks: it runs each submission in a sandbox, with the ``RobustExecute`` and
``LimitOutputSize`` of ``nbgrader_plugins.py`` and the limits below, and scores
it in its own process (``tools/grading.py``). nbgrader still makes the release
(``generate_assignment``), runs ``validate`` and holds the gradebook.

Two environment variables set the time limits (``tools/grade.py autograde
--timeout/--notebook-timeout`` override them):

* ``COURSE_CELL_TIMEOUT``: seconds per cell (default 300: a cold Numba
  compile of the companion's kernels takes tens of seconds on a slow machine);
* ``COURSE_NOTEBOOK_TIMEOUT``: seconds for a whole notebook (default 1800).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.converters.autograde import Autograde  # noqa: E402
from nbgrader.preprocessors import Execute, LimitOutput  # noqa: E402

from nbgrader_plugins import LimitOutputSize, RobustExecute  # noqa: E402

c = get_config()  # noqa: F821  (provided by traitlets when it loads this file)

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = "cnn-backprop"
# each assignment is one notebook: source/<a>/<a>.ipynb
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# Release: the solution regions become this stub; hidden tests are removed.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Execution during autograde (and validate).
c.Execute.timeout = int(os.environ.get("COURSE_CELL_TIMEOUT", "300"))
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120
c.RobustExecute.notebook_timeout = int(os.environ.get("COURSE_NOTEBOOK_TIMEOUT", "1800"))
c.RobustExecute.max_restarts = 10

# Autograde: restore deleted test cells (edited ones are always restored from
# the source), and cap what a submission's outputs may hold.
c.OverwriteCells.add_missing_cells = True
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
c.LimitOutputSize.max_chars = 20000

_default = Autograde.class_traits()["autograde_preprocessors"].default()
_replace = {Execute: RobustExecute, LimitOutput: LimitOutputSize}
c.Autograde.autograde_preprocessors = [_replace.get(p, p) for p in _default]
assert RobustExecute in c.Autograde.autograde_preprocessors \
    and ClearMetadataPreprocessor in c.Autograde.autograde_preprocessors  # the layout we expect
