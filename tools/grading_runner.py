"""Run in the sandbox (``tools/sandbox.py``) by ``tools/grade.py autograde``: execute one
submission and collect what its functions return on the grader's cases.

    python grading_runner.py JOB.json

``JOB.json`` names the notebook to execute (the student's cells with the
release's locked cells restored, hidden tests absent), the plan of calls
(``plan.pkl``: the student's names and the cases, written by the grader), the
output folder and the limits. The notebook runs with the course's
``RobustExecute`` (a kernel that dies or hangs costs one cell) and one last
cell that runs ``grading_harvest.harvest``; outputs are cut with
``LimitOutputSize``. Written to the output folder: ``executed.ipynb``, the
harvest's files, ``audit.log``.

Nothing written here is trusted: the grader reads it as data, and scores it in
its own process.
"""
import json
import logging
import os
import sys


def main(job_path):
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import nbformat
    from nbgrader.preprocessors import Execute
    from nbgrader_plugins import LimitOutputSize, RobustExecute

    logging.basicConfig(level=logging.WARNING, format="[%(levelname)s] %(message)s")
    out = job["out"]
    nb = nbformat.read(job["notebook"], as_version=4)
    harvest_source = (
        "def __grading_harvest():\n"
        "    ns = {}\n"
        f"    path = {os.path.join(here, 'grading_harvest.py')!r}\n"
        "    with open(path) as fh:\n"
        "        exec(compile(fh.read(), path, 'exec'), ns)\n"
        f"    ns['harvest'](get_ipython().user_ns, {job['plan']!r}, {out!r}, {here!r}, "
        f"{job['call_timeout']!r})\n"
        "__grading_harvest()\n"
        "del __grading_harvest\n")
    harvest = nbformat.v4.new_code_cell(harvest_source, metadata={"grading": "harvest"})
    nb.cells.append(harvest)
    budget = job["call_timeout"] * (job["n_calls"] + 1) + 60

    class GradingExecute(RobustExecute):
        """The course's RobustExecute; the harvest cell runs even after the notebook's
        time is up (each of its calls has its own limit)."""

        def preprocess_cell(self, cell, resources, index):
            if cell.metadata.get("grading") == "harvest" and index not in self._skipped:
                self._running = index
                return Execute.preprocess_cell(self, cell, resources, index)
            return super().preprocess_cell(cell, resources, index)

    audit = os.path.join(here, "grading_audit.py")
    ex = GradingExecute(
        timeout=job["cell_timeout"], interrupt_on_timeout=True, startup_timeout=120,
        notebook_timeout=job["notebook_timeout"], max_restarts=job["max_restarts"],
        timeout_func=lambda cell: (budget if cell.metadata.get("grading") == "harvest"
                                   else job["cell_timeout"]),
        extra_arguments=["--HistoryManager.hist_file=:memory:",
                         f"--IPKernelApp.exec_files=[{audit!r}]"],
        kernel_name="python3")
    resources = {"metadata": {"path": os.getcwd()}}
    nb, resources = ex.preprocess(nb, resources)
    last = nb.cells.pop()
    errors = [o for o in last.get("outputs", []) if o.get("output_type") == "error"]
    if errors or not last.get("outputs") and last.get("execution_count") is None:
        with open(os.path.join(out, "harvest_error.txt"), "w", encoding="utf-8") as fh:
            fh.write("; ".join(f"{e.get('ename')}: {e.get('evalue', '')}"[:500] for e in errors)
                     or "the harvest cell did not run")
    limiter = LimitOutputSize(max_lines=job["max_lines"], max_traceback=job["max_traceback"],
                              max_chars=job["max_chars"])
    nb, _ = limiter.preprocess(nb, {})
    nbformat.write(nb, os.path.join(out, "executed.ipynb"))


if __name__ == "__main__":
    main(sys.argv[1])
