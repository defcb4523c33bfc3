"""Run in the student's kernel, last, by ``tools/grading_runner.py``: call the student's
functions on the grader's cases and write what they return (never a verdict).

The grader's process decides every score (``tools/grading_plan.py``): this code
only collects, for each check of the plan,

* for a function: on each case, what it returned and its arguments afterwards,
  or the exception it raised; each call runs in a forked child process with a
  time limit, so that a call that hangs, ignores interrupts or kills its
  process costs that check only;
* for a short answer: the value of the answer variable.

Everything is written with ``grading_codec`` (JSON and ``.npz``, no pickles)
to ``OUT/c<check>-<case>``; a file ``OUT/c<check>-<case>.started`` is written
before each call, so the grader can tell a call that never returned from one
that never ran. A student's code can change what this writes, but only for
its own results, and it cannot see the expected values: they never leave the
grader's process.
"""


def harvest(user_ns, plan_path, out_dir, codec_dir, call_timeout):
    import os
    import pickle
    import signal
    import sys
    import time

    sys.path.insert(0, codec_dir)
    import grading_codec as codec

    missing = object()
    with open(plan_path, "rb") as fh:
        plan = pickle.load(fh)
    for i, check in enumerate(plan):
        value = user_ns.get(check["name"], missing)
        if check.get("wrapper") is not None and value is not missing:
            # a test cell's function that calls the student's: bind it to them
            value = pickle.loads(check["wrapper"])
            value.__globals__.update({n: user_ns[n] for n in check["refs"] if n in user_ns})
        if check["kind"] == "answer":
            stem = os.path.join(out_dir, f"c{i}-0")
            result = {"missing": True} if value is missing else {"value": value}
            _write_safely(codec, stem, result)
            continue
        if value is missing:
            _write_safely(codec, os.path.join(out_dir, f"c{i}-0"), {"missing": True})
            continue
        for k, blob in enumerate(check["cases"]):
            stem = os.path.join(out_dir, f"c{i}-{k}")
            open(stem + ".started", "w").close()
            status = _call_in_child(codec, value, blob, stem, call_timeout, signal, time)
            if status is not None:
                _write_safely(codec, stem, {"died": status})
                break                       # this check has failed: skip its other cases


def _write_safely(codec, stem, result):
    try:
        codec.write(stem, result)
    except BaseException as exc:        # a value the codec cannot write
        codec.write(stem, {"unwritable": f"{type(exc).__name__}"})


def _call_in_child(codec, func, blob, stem, timeout, signal, time):
    """Call ``func`` on the pickled case in a child; ``None`` when the child wrote its
    result, else why it did not ("timeout", "signal N", "exit N")."""
    import io
    import os
    import pickle
    import sys

    pid = os.fork()
    if pid == 0:                        # the child: call, write, and leave at once
        code = 0
        try:
            sys.stdout = sys.stderr = io.StringIO()
            args, kwargs = pickle.loads(blob)
            try:
                result = {"returned": func(*args, **kwargs), "args": args, "kwargs": kwargs}
            except BaseException as exc:
                result = {"raised": type(exc).__name__, "message": str(exc)[:2000]}
            _write_safely(codec, stem, result)
        except BaseException:
            code = 3
        os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.005)
    if os.path.exists(stem + ".json") and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.WEXITSTATUS(status)}"
