"""The first code that runs inside the sandbox, before any user code (standard library only).

Run as ``python -P -s _enter.py LIMITS_JSON SCRIPT ARGS...``. It

- when started as root (bubblewrap run by a root server, which cannot map another uid into a
  user namespace of its own): drops to ``limits["uid"]``, then enters a new user namespace
  that maps only that uid, and drops every capability it gained there. The processes of user
  code so hold an unprivileged kernel uid, which is what makes ``RLIMIT_NPROC`` count them:
  the kernel does not apply that limit to uid 0, in any namespace;
- forbids further user namespaces (``/proc/sys/user/max_user_namespaces`` of its own
  namespace set to 0: bubblewrap's ``--disable-userns``, for the root case) and new privileges;
- sets the resource limits, hard and soft (processes, open files, file size, address space,
  no core files);
- then runs ``SCRIPT`` in this interpreter as ``__main__`` with ``ARGS`` (``-``: nothing).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import runpy
import sys
from typing import Any

CLONE_NEWUSER = 0x10000000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4
_CAP_VERSION_3 = 0x20080522
MB = 1024 * 1024


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)


def drop_root(uid: int) -> None:
    """From root in the sandbox to ``uid`` alone in a user namespace of its own."""
    libc = _libc()
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    # A uid change leaves the process undumpable, and so /proc/self/uid_map root's to write.
    _check(libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
    _check(libc.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
    _write("/proc/self/gid_map", f"{uid} {uid} 1\n")
    _write("/proc/sys/user/max_user_namespaces", "0")
    # The namespace's creator holds every capability in it: give them all up.
    header, data = _CapHeader(_CAP_VERSION_3, 0), (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), data), "capset")


def set_limits(limits: dict[str, Any]) -> None:
    def both(kind: int, value: int) -> None:
        resource.setrlimit(kind, (value, value))

    both(resource.RLIMIT_CORE, 0)
    both(resource.RLIMIT_NPROC, int(limits["processes"]))
    both(resource.RLIMIT_NOFILE, int(limits["open_files"]))
    both(resource.RLIMIT_FSIZE, int(limits["file_mb"]) * MB)
    if limits.get("memory_mb"):
        both(resource.RLIMIT_AS, int(limits["memory_mb"]) * MB)


def main(argv: list[str]) -> None:
    limits = json.loads(argv[1])
    if os.getuid() == 0 and limits.get("uid") is not None:
        drop_root(int(limits["uid"]))
    _check(_libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    set_limits(limits)
    if argv[2] == "-":  # the server's check that a sandbox can be made here
        return
    sys.argv = argv[2:]
    runpy.run_path(argv[2], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv)
