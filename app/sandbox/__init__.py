"""Where user code runs: a bubblewrap sandbox around each worker process.

User code is a custom runtime's ``model_service.py`` and the PyTorch export of a package (it
builds the model with the same script). It runs as a child process started here:

- ``bwrap`` gives it new PID, IPC, UTS, cgroup, mount and (unless the package asks for it)
  network namespaces; a user namespace with an unprivileged uid (``_enter`` does that step
  when the server runs as root); ``--die-with-parent`` and PID 1 of its own namespace, so the
  whole tree it starts (``setsid()`` included) dies with it.
- Its file system is read-only ``/usr`` and the Python runtime (base prefix and virtualenv),
  the package at ``/model`` (read-only), a private ``/tmp`` (tmpfs, ``user_code_tmp_mb``),
  and for jobs that write results a fresh work folder at ``/job``. Nothing of the data
  directory, the model cache's other packages, the server's ``/proc`` or environment.
- Limits, set by ``_enter`` before user code: address space (the deployment's memory,
  never above ``user_code_max_memory_mb``), processes, open files, file size; CPU time is
  capped by each worker from its timeouts.
- Network: none (a loopback of its own) unless the package's ``config.json`` says
  ``"network": true`` and the server allows it (``user_code_network``); then it shares the
  server's network namespace: it can reach whatever the server's host can, including
  services listening on its loopback, so allow it only where that is acceptable.

Without bwrap the server refuses to start user code (``SandboxUnavailable`` says how to
install it); ``MODELREPO_UNSAFE_USER_CODE=true`` runs it the old way, with the server's
uid and file system but a clean environment, the limits above and its own session.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from app.settings import Settings

logger = logging.getLogger(__name__)

ENTER = Path(__file__).with_name("_enter.py")
INSIDE = "/opt/modelrepo"  # where the launcher and the worker script are seen
MODEL_DIR, JOB_DIR, TMP_DIR = "/model", "/job", "/tmp"
INSTALL_HINT = (
    "user code runs only in a bubblewrap sandbox: install it (Debian/Ubuntu: apt-get install"
    " bubblewrap; Fedora: dnf install bubblewrap), or set MODELREPO_UNSAFE_USER_CODE=true to"
    " run it without one, with the server's privileges"
)
# Files a process with network access needs to resolve names and check certificates.
NETWORK_FILES = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
)


class SandboxUnavailable(Exception):
    """User code cannot be started: no working bubblewrap, and unsafe mode is off."""


@dataclass
class Layout:
    """The paths a worker is told about, as seen inside its sandbox (or on the host when
    unsafe), and a host folder to remove afterwards."""

    model_dir: str
    work_dir: str | None
    home: str
    _host_home: str | None = field(default=None, repr=False)

    def cleanup(self) -> None:
        if self._host_home is not None:
            shutil.rmtree(self._host_home, ignore_errors=True)
            self._host_home = None


def machine_memory_mb() -> int:
    return int(psutil.virtual_memory().total // (1024 * 1024))


@dataclass(frozen=True)
class Sandbox:
    """How user code is started, from the server's settings."""

    unsafe: bool = False
    bwrap: str = "bwrap"
    uid: int = 65534
    max_memory_mb: int = 0  # 0: half this machine's memory
    processes: int = 64
    open_files: int = 1024
    file_mb: int = 1024
    tmp_mb: int = 256
    network_allowed: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> Sandbox:
        return cls(
            unsafe=settings.unsafe_user_code,
            bwrap=settings.bwrap_path,
            uid=settings.sandbox_uid,
            max_memory_mb=settings.user_code_max_memory_mb,
            processes=settings.user_code_max_processes,
            open_files=settings.user_code_max_open_files,
            file_mb=settings.user_code_max_file_mb,
            tmp_mb=settings.user_code_tmp_mb,
            network_allowed=settings.user_code_network,
        )

    @property
    def memory_ceiling_mb(self) -> int:
        return self.max_memory_mb or machine_memory_mb() // 2

    def memory_mb(self, asked: int | None) -> int:
        """The address-space limit for a worker that asked for ``asked`` MB (None: the
        ceiling)."""
        return min(asked or self.memory_ceiling_mb, self.memory_ceiling_mb)

    def layout(self, package: Path, work: Path | None = None) -> Layout:
        if not self.unsafe:
            return Layout(MODEL_DIR, JOB_DIR if work is not None else None, TMP_DIR)
        home = tempfile.mkdtemp(prefix="modelrepo-worker-")
        work_dir = str(work.resolve()) if work is not None else None
        return Layout(str(package.resolve()), work_dir, home, home)

    async def start(
        self,
        script: Path,
        arguments: list[str],
        layout: Layout,
        *,
        package: Path,
        work: Path | None = None,
        network: bool = False,
        memory_mb: int | None = None,
        environment: dict[str, str] | None = None,
        stdin: int = asyncio.subprocess.PIPE,
    ) -> asyncio.subprocess.Process:
        """Start ``python SCRIPT ARGUMENTS`` on ``package`` (read-only) and ``work``
        (writable), with stdout and stderr piped."""
        if network and not self.network_allowed:
            raise SandboxUnavailable(
                "the package asks for network access, which this server does not allow"
                " (MODELREPO_USER_CODE_NETWORK=false)"
            )
        limits = {
            "uid": self.uid,
            "processes": self.processes,
            "open_files": self.open_files,
            "file_mb": self.file_mb,
            "memory_mb": self.memory_mb(memory_mb),
        }
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": layout.home,
            "TMPDIR": layout.home,
            "LANG": "C.UTF-8",
            "PYTHONPATH": layout.model_dir,
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        } | (environment or {})
        python = [sys.executable, "-P", "-s"]
        if self.unsafe:
            command = [*python, str(ENTER), json.dumps(limits | {"uid": None}), str(script)]
            cwd = layout.model_dir
        else:
            await asyncio.to_thread(self.check)
            if os.geteuid() == 0:  # the sandbox's uid is another one
                await asyncio.to_thread(_readable_by_all, package)
                if work is not None:
                    await asyncio.to_thread(os.chown, work, self.uid, self.uid)
            inside = f"{INSIDE}/{script.name}"
            command = [
                *self._bwrap(package, work, network, script),
                *python,
                f"{INSIDE}/_enter.py",
                json.dumps(limits),
                inside,
            ]
            cwd = "/"
        return await asyncio.create_subprocess_exec(
            *command,
            *arguments,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )

    def _bwrap(self, package: Path, work: Path | None, network: bool, script: Path) -> list[str]:
        args = [*_base(self.bwrap, self.uid, network, self.tmp_mb), "--new-session"]
        if network:
            for path in NETWORK_FILES:
                args += ["--ro-bind-try", path, path]
        args += ["--ro-bind", str(package.resolve()), MODEL_DIR]
        if work is not None:
            args += ["--bind", str(work.resolve()), JOB_DIR]
        args += ["--ro-bind", str(ENTER), f"{INSIDE}/_enter.py"]
        args += ["--ro-bind", str(script), f"{INSIDE}/{script.name}", "--chdir", MODEL_DIR]
        return args

    def check(self) -> None:
        """Raise SandboxUnavailable unless bwrap is installed and can make a sandbox here
        (checked once per process and settings)."""
        problem = _probe(self.bwrap, self.uid)
        if problem:
            raise SandboxUnavailable(problem)

    def warn_if_unsafe(self) -> None:
        if self.unsafe:
            logger.warning(
                "MODELREPO_UNSAFE_USER_CODE=true: user code (model_service.py, PyTorch export"
                " scripts) runs without a sandbox, with this server's uid, files and network"
            )


def _base(bwrap: str, uid: int, network: bool, tmp_mb: int) -> list[str]:
    """Namespaces, /usr and the Python runtime read-only, /proc, /dev and /tmp of its own."""
    args = [bwrap, "--die-with-parent", "--hostname", "sandbox"]
    args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not network:
        args.append("--unshare-net")
    if os.geteuid() != 0:  # unprivileged bwrap maps our uid; as root, _enter drops root
        args += ["--unshare-user", "--disable-userns", "--uid", str(uid), "--gid", str(uid)]
    # /tmp first: a Python runtime under /tmp (a checkout there) is bound on top of it.
    args += ["--perms", "1777", "--size", str(tmp_mb << 20), "--tmpfs", TMP_DIR]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/", name)  # links on merged-/usr hosts
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    prefixes = sorted(p for p in {sys.base_prefix, sys.prefix} if not p.startswith("/usr/"))
    args += _folders_above([*prefixes, f"{INSIDE}/x"])
    for prefix in prefixes:
        args += ["--ro-bind", prefix, prefix]
    return [*args, "--proc", "/proc", "--dev", "/dev"]


def _readable_by_all(package: Path) -> None:
    """Let every uid read the package (bind mounts keep the host's modes, and a folder
    made by mkdtemp is the server's alone); only read and search bits are added."""
    for folder, _, names in os.walk(package):
        for path, bits in [(folder, 0o555), *((os.path.join(folder, n), 0o444) for n in names)]:
            mode = os.lstat(path).st_mode
            if mode & bits != bits and not os.path.islink(path):
                os.chmod(path, mode | bits)


def _folders_above(paths: list[str]) -> list[str]:
    """Folders above ``paths`` made 0755: bwrap makes them 0700 as root, or copies a host
    folder's mode (a pyenv under a 0700 /root), which the sandbox's uid could not enter."""
    args: list[str] = []
    for folder in sorted({str(a) for p in paths for a in Path(p).parents} - {"/", TMP_DIR}):
        args += ["--perms", "0755", "--dir", folder]
    return args


@functools.cache
def _probe(bwrap: str, uid: int) -> str:
    """Start the launcher in an empty sandbox once: "" when it works, else why not."""
    found = shutil.which(bwrap)
    if found is None:
        return f"bubblewrap ({bwrap}) is not installed: {INSTALL_HINT}"
    limits = {"uid": uid, "processes": 64, "open_files": 64, "file_mb": 1}
    command = [*_base(found, uid, network=False, tmp_mb=1)]
    command += ["--ro-bind", str(ENTER), f"{INSIDE}/_enter.py"]
    command += [sys.executable, "-P", "-s", f"{INSIDE}/_enter.py", json.dumps(limits), "-"]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=30, check=False, env={}
        )
    except OSError as exc:
        return f"bubblewrap ({found}) could not be started: {exc}; {INSTALL_HINT}"
    if result.returncode != 0:
        why = result.stderr.strip()[-500:] or f"exit status {result.returncode}"
        return (
            f"bubblewrap cannot make a sandbox on this machine ({why}); in a container,"
            " allow user namespaces and mounts (see the README's security section), or set"
            " MODELREPO_UNSAFE_USER_CODE=true to run user code without one"
        )
    return ""
