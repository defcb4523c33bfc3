"""Run at the start of every kernel of a sandboxed grading run (``IPKernelApp.exec_files``):
note what the notebook tries to do outside its own folder.

A Python audit hook (PEP 578, which code cannot remove once added) appends one
line to ``OUT/audit.log`` for each attempt to write, delete or rename a file
outside the sandbox's writable folders, and for each network connection. The
sandbox refuses those operations whatever this file notes (the package and the
data are mounted read-only, nothing else of the machine is mounted, and there
is no network); the notes go into the submission's integrity report. They are
best effort: code can go around Python (ctypes, a subprocess).
"""


def _install_grading_audit():
    import os
    import sys

    out = os.environ.get("GRADING_OUT", "/home/student/out")
    try:
        fd = os.open(os.path.join(out, "audit.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                     0o644)
    except OSError:
        return
    allowed = ("/home/student/", "/tmp/", "/dev/shm/", "/dev/null", "/proc/self/", "/dev/pts/")
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    path_events = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "shutil.rmtree",
                   "os.chmod", "os.chown", "os.truncate", "os.link", "os.symlink",
                   "os.utime", "shutil.copyfile", "shutil.move"}
    state = {"lines": 0}

    def note(text):
        if state["lines"] < 200:
            state["lines"] += 1
            os.write(fd, (text.replace("\n", " ")[:300] + "\n").encode("utf-8", "replace"))

    def outside(path):
        """The path, when it is not in the sandbox's own folders (or names a folder that
        does not exist here: a path of the machine the sandbox hides)."""
        if isinstance(path, bytes):
            path = path.decode("utf-8", "replace")
        if not isinstance(path, str):
            return None
        full = os.path.abspath(path)
        inside = any((full + "/").startswith(a) or full == a.rstrip("/") for a in allowed)
        if inside and os.path.isdir(os.path.dirname(full)):
            return None
        return full

    def hook(event, args):
        try:
            if event == "open":
                path, mode, flags = args
                writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    isinstance(flags, int) and flags & write_flags)
                where = outside(path) if writing else None
                if where:
                    note(f"write {where}")
            elif event in path_events:
                where = outside(args[0])
                if where:
                    note(f"{event.split('.')[-1]} {where}")
            elif event == "socket.connect":
                note(f"connect {args[1]!r}")
            elif event == "os.exec" or event == "subprocess.Popen":
                note(f"run {args[1]!r}"[:200] if len(args) > 1 else f"run {args!r}")
        except BaseException:
            pass

    sys.addaudithook(hook)


_install_grading_audit()
del _install_grading_audit
