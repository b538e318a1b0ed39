"""Fails when a lock file no longer satisfies pyproject.toml: a package declared there (in
``dependencies``, or in the extras given) that the lock lacks, or locks at a version outside
its range. Then ``make lock`` resolves the lock files again.

    python scripts/check_lock.py requirements/dev.txt dev
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip vendors it
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def problems(lock: Path, extras: list[str]) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in extras:
        declared += project["optional-dependencies"][extra]
    pins = {}
    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    found = []
    for text in declared:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            found.append(f"{requirement.name} is declared but not in {lock}")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            found.append(f"{lock} has {requirement.name}=={pinned}, outside {requirement}")
    return found


def main() -> int:
    lock = Path(sys.argv[1])
    found = problems(lock, sys.argv[2:])
    for problem in found:
        print(problem, file=sys.stderr)
    if found:
        print(f"{lock} does not satisfy pyproject.toml: run make lock", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
