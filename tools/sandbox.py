"""A sandbox for one student's submission: bubblewrap, limits, and nothing of the course.

``tools/grade.py autograde`` runs each submission with :func:`run`. Inside:

* the file system holds only the system's ``/usr``, the Python installation
  and its environment, the companion package and the data, all read-only,
  plus the submission's own folder (``/home/student``, a private copy) and an
  empty ``/tmp``: not the course folder, the gradebook, the sources, other
  submissions or the repository;
* no network (a network namespace of its own, with only a loopback), a fresh
  process tree (PID namespace), IPC and host name of its own;
* a clean environment: none of the instructor's variables, only those set here;
* limits per process on memory (address space), CPU time, file size and open
  files, and on the number of processes;
* when the grader runs as root, the code runs as an unprivileged user of its
  own (``setpriv``), one per parallel job, so the process limit counts that
  sandbox only and nothing on the machine is writable by it.

Everything here is well-kept system software: ``bwrap`` (bubblewrap, as used by
Flatpak), ``prlimit`` and ``setpriv`` (util-linux). :func:`problem` says why
isolation is not available on a machine (``None`` when it is); ``autograde``
then refuses to grade unless ``--unsafe`` is given.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple, Optional

HOME = "/home/student"
GRADING = "/opt/grading"           # the grader's files for this run, read-only
VENV = "/opt/venv"
COURSE_PACKAGE = "/opt/course"     # PYTHONPATH: the companion package, read-only
DATA = "/opt/data"
FIRST_UID = 61000                  # job k runs as uid FIRST_UID + k (when the grader is root)


class Limits(NamedTuple):
    """Resource limits of one sandbox (each process of it, except ``processes``)."""

    memory: int = 2 * 2 ** 30          # bytes of address space per process
    cpu_seconds: int = 1800            # CPU time per process
    processes: int = 256               # processes and threads of the sandbox's user
    file_size: int = 256 * 2 ** 20     # bytes per file written
    open_files: int = 1024
    tmp_size: int = 512 * 2 ** 20      # the size of /tmp (a tmpfs)


def parse_size(text: str) -> int:
    """``"2G"``, ``"512M"``, ``"1.5G"`` or a number of bytes, as bytes."""
    units = {"K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40}
    t = str(text).strip().upper().removesuffix("B").removesuffix("I")
    try:
        if t and t[-1] in units:
            value = int(float(t[:-1]) * units[t[-1]])
        else:
            value = int(t)
    except ValueError:
        raise ValueError(f"a size such as 2G or 512M, got {text!r}") from None
    if value < 64 * 2 ** 20:
        raise ValueError(f"a memory limit of at least 64M, got {text!r}")
    return value


def _package_dir() -> Path:
    import companion
    return Path(companion.__file__).resolve().parent


def _in_venv() -> bool:
    return sys.prefix != sys.base_prefix


def python_in_sandbox() -> str:
    """The path of this Python inside the sandbox."""
    if _in_venv():
        return f"{VENV}/bin/python"
    return str(Path(sys.executable))


def _dirs_for(path: str) -> list[str]:
    """``--dir`` arguments (mode 0755) for every parent of ``path`` inside the sandbox."""
    args, parts = [], Path(path).parts[1:-1]
    for k in range(len(parts)):
        args += ["--perms", "0755", "--dir", "/" + "/".join(parts[:k + 1])]
    return args


def command(workdir: Path, grading_dir: Path, argv: list[str], *, limits: Limits,
            uid: Optional[int], env: Optional[dict] = None) -> list[str]:
    """The command line that runs ``argv`` in a sandbox.

    ``workdir`` becomes ``/home/student`` (read-write), ``grading_dir`` becomes
    ``/opt/grading`` (read-only). ``uid``: the unprivileged user to run as (the
    grader must be root), or ``None`` to stay the calling user in a user namespace.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise FileNotFoundError("bwrap (bubblewrap) is not installed")
    args = [bwrap, "--die-with-parent", "--new-session", "--clearenv",
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--hostname", "grader"]
    if uid is None:
        args += ["--unshare-user", "--cap-drop", "ALL"]
    args += ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64"):
        p = Path("/" + top)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), f"/{top}"]
        elif p.is_dir():
            args += ["--ro-bind", str(p), f"/{top}"]
    etc = grading_dir / "etc"
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in ("passwd", "group", "hosts", "nsswitch.conf"):
        if (etc / name).is_file():
            args += ["--ro-bind", str(etc / name), f"/etc/{name}"]
    for name in ("ld.so.cache", "ld.so.conf", "localtime"):
        if Path("/etc", name).exists():
            args += ["--ro-bind", str(Path("/etc", name).resolve()), f"/etc/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--tmpfs", "/dev/shm",
             "--perms", "1777", "--size", str(limits.tmp_size), "--tmpfs", "/tmp"]
    base = str(Path(sys.base_prefix).resolve())
    if not base.startswith("/usr/") and base != "/usr":
        args += _dirs_for(base) + ["--ro-bind", base, base]
    if _in_venv():
        args += _dirs_for(VENV) + ["--ro-bind", str(Path(sys.prefix)), VENV]
    args += _dirs_for(f"{COURSE_PACKAGE}/companion")
    args += ["--ro-bind", str(_package_dir()), f"{COURSE_PACKAGE}/companion"]
    data = os.environ.get("COMPANION_DATA")
    if data and Path(data).is_dir():
        args += _dirs_for(DATA) + ["--ro-bind", str(Path(data).resolve()), DATA]
    args += _dirs_for(GRADING) + ["--ro-bind", str(grading_dir), GRADING]
    args += _dirs_for(HOME) + ["--bind", str(workdir), HOME, "--chdir", HOME]
    path = f"{VENV}/bin:/usr/bin:/bin" if _in_venv() else \
        f"{Path(sys.executable).parent}:/usr/bin:/bin"
    variables = {
        "HOME": HOME, "USER": "student", "LOGNAME": "student", "PATH": path,
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONPATH": COURSE_PACKAGE,
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
        "NUMBA_CACHE_DIR": f"{HOME}/.numba", "NUMBA_NUM_THREADS": "1",
        # the grader calls the student's functions in forked processes: GNU OpenMP,
        # Numba's default layer here, kills a child forked after it ran; workqueue not
        "NUMBA_THREADING_LAYER": "workqueue",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{HOME}/.matplotlib",
        "IPYTHONDIR": f"{HOME}/.ipython", "JUPYTER_RUNTIME_DIR": f"{HOME}/.jupyter-runtime",
        "JUPYTER_PLATFORM_DIRS": "1", "GRADING_OUT": f"{HOME}/out",
    }
    if data and Path(data).is_dir():
        variables["COMPANION_DATA"] = DATA
    variables.update(env or {})
    for key, value in variables.items():
        args += ["--setenv", key, value]
    args += ["--"]
    if uid is not None:
        args += ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    prlimit = ["prlimit", f"--as={limits.memory}", f"--cpu={limits.cpu_seconds}",
               f"--fsize={limits.file_size}", f"--nofile={limits.open_files}", "--core=0"]
    if uid is not None or os.geteuid() != 0:
        prlimit.append(f"--nproc={_nproc(limits, uid)}")
    return prlimit + ["--"] + args + list(argv)


def _nproc(limits: Limits, uid: Optional[int]) -> int:
    """The process limit: per sandbox user when the grader is root; else on top of the
    processes the instructor's user already has (the limit counts all of them)."""
    if uid is not None:
        return limits.processes
    mine = 0
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and p.stat().st_uid == os.getuid():
                mine += len(list((p / "task").iterdir()))
        except OSError:
            pass
    return mine + limits.processes


def prepare(grading_dir: Path) -> None:
    """Write the sandbox's /etc files (a user ``student``, no other) into ``grading_dir``."""
    etc = grading_dir / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    uid = os.getuid()
    (etc / "passwd").write_text(
        f"root:x:0:0:root:/root:/usr/sbin/nologin\nstudent:x:{FIRST_UID}:{FIRST_UID}:"
        f"student:{HOME}:/bin/sh\nme:x:{uid}:{uid}::{HOME}:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    (etc / "group").write_text(f"root:x:0:\nstudent:x:{FIRST_UID}:\n")
    (etc / "hosts").write_text("127.0.0.1 localhost grader\n::1 localhost\n")
    (etc / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files\n")
    for p in [grading_dir, *grading_dir.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)


def uid_for(slot: int) -> Optional[int]:
    """The user that job ``slot`` runs as: its own when the grader is root, else none."""
    return FIRST_UID + slot if os.geteuid() == 0 else None


def give_to(path: Path, uid: Optional[int]) -> None:
    """Make ``path`` (a sandbox's folder, recursively) the sandbox user's."""
    if uid is None:
        return
    for p in [path, *path.rglob("*")]:
        os.lchown(p, uid, uid)


def run(workdir: Path, grading_dir: Path, argv: list[str], *, limits: Limits,
        slot: int = 0, timeout: float, env: Optional[dict] = None
        ) -> subprocess.CompletedProcess:
    """Run ``argv`` in a sandbox; kill the whole sandbox after ``timeout`` seconds.

    Returns the completed process (stdout and stderr together in ``stdout``);
    ``returncode`` is ``-9`` when it was killed for time.
    """
    uid = uid_for(slot)
    give_to(workdir, uid)
    cmd = command(workdir, grading_dir, argv, limits=limits, uid=uid, env=env)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
        return subprocess.CompletedProcess(cmd, -9, out.decode("utf-8", "replace"))
    return subprocess.CompletedProcess(cmd, proc.returncode, out.decode("utf-8", "replace"))


def problem() -> Optional[str]:
    """Why submissions cannot be sandboxed on this machine, or ``None`` when they can.

    Runs a small program in a sandbox and checks that it sees neither the network
    nor this folder and cannot write the package.
    """
    for tool in ("bwrap", "prlimit"):
        if shutil.which(tool) is None:
            return (f"{tool} is not installed (Debian/Ubuntu: apt-get install "
                    f"{'bubblewrap' if tool == 'bwrap' else 'util-linux'})")
    if os.geteuid() == 0 and not Path("/usr/bin/setpriv").is_file():
        return "setpriv is not installed (Debian/Ubuntu: apt-get install util-linux)"
    probe = ("import os, socket, sys\n"
             "import companion\n"
             f"assert not os.path.exists({str(Path(__file__).resolve())!r})\n"
             "try:\n"
             f"    open({COURSE_PACKAGE + '/companion/__init__.py'!r}, 'a')\n"
             "    sys.exit('the package is writable')\n"
             "except OSError:\n"
             "    pass\n"
             "try:\n"
             "    socket.create_connection(('192.0.2.1', 9), timeout=1)\n"
             "    sys.exit('the network is reachable')\n"
             "except OSError:\n"
             "    pass\n"
             "print('isolated')\n")
    with tempfile.TemporaryDirectory(prefix="cnn-grade-probe-") as tmp:
        grading, work = Path(tmp) / "grading", Path(tmp) / "work"
        grading.mkdir()
        work.mkdir()
        prepare(grading)
        Path(tmp).chmod(0o755)
        try:
            proc = run(work, grading, [python_in_sandbox(), "-c", probe], limits=Limits(),
                       timeout=120)
        except OSError as exc:
            return f"the sandbox cannot start: {exc}"
        if proc.returncode != 0 or "isolated" not in proc.stdout:
            text = proc.stdout.strip().splitlines()[-3:]
            return "the sandbox does not work on this machine: " + " / ".join(text)
    return None
