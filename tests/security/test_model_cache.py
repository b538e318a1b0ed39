"""The model cache as an attacker with a custom model meets it: cached copies are read-only,
and a copy that was changed (rewritten, added to) is found before it is used and fetched
again. One ModelCache per process; two caches or two processes fetching one package at once
both succeed."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.adapters.object_store.local import LocalObjectStore
from app.bootstrap import build
from app.serving import _cache_files
from app.serving.cache import ModelCache, content_key
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = {
    "model_service.py": b"def predict(x):\n    return x\n",
    "config.json": b'{"inputs": [], "outputs": []}',
    "weights/model.bin": bytes(range(256)) * 64,
}


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    sha256: str


def manifest(files: dict[str, bytes]) -> list[Entry]:
    return [Entry(p, len(d), hashlib.sha256(d).hexdigest()) for p, d in sorted(files.items())]


async def stored(tmp_path: Path, files: dict[str, bytes] = PACKAGE) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path / "objects")
    for path, data in files.items():
        await store.put(f"pkg/{path}", _chunks(data))
    return store


async def _chunks(data: bytes):  # type: ignore[no-untyped-def]
    yield data


def writable(path: Path) -> None:
    """What an attacker running as the cache's owner does first."""
    os.chmod(path, 0o755 if path.is_dir() else 0o644)


def contents(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


async def test_a_cached_copy_is_read_only_on_disk(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path / "cache", await stored(tmp_path))
    folder = await cache.fetch("pkg", manifest(PACKAGE))
    modes = {str(p.relative_to(folder)): stat.S_IMODE(p.lstat().st_mode) for p in folder.rglob("*")}
    assert modes == {
        "config.json": 0o444,
        "model_service.py": 0o444,
        "weights": 0o555,
        "weights/model.bin": 0o444,
    }
    assert stat.S_IMODE(folder.lstat().st_mode) == 0o555


async def test_a_rewritten_file_of_the_same_size_is_found_and_fetched_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ModelCache(tmp_path / "cache", await stored(tmp_path))
    folder = await cache.fetch("pkg", manifest(PACKAGE))
    victim = folder / "model_service.py"
    before = victim.stat()
    writable(victim)
    tampered = b"import os;os.system('id')\n"
    victim.write_bytes(tampered.ljust(len(PACKAGE["model_service.py"]), b"#"))
    assert victim.stat().st_size == before.st_size
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))  # covers its tracks

    with caplog.at_level(logging.WARNING, "modelrepo.serving"):
        again = await cache.fetch("pkg", manifest(PACKAGE))

    assert again == folder
    assert contents(again) == PACKAGE
    assert cache.mismatches == 1
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = record.getMessage()
    assert content_key(manifest(PACKAGE)) in message and "model_service.py" in message
    assert str(tmp_path) not in message
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]


async def test_a_rewrite_is_found_after_the_file_was_known_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loads after the first trust a file's stamp instead of hashing it: a later rewrite,
    mtime put back, still shows (its ctime changed)."""
    monkeypatch.setattr(_cache_files, "SETTLED_NS", 50_000_000)
    cache = ModelCache(tmp_path / "cache", await stored(tmp_path))
    files = manifest(PACKAGE)
    folder = await cache.fetch("pkg", files)
    await asyncio.sleep(0.1)
    await cache.fetch("pkg", files)  # hashed, a tenth of a second after the last change
    assert set(cache._hashed[content_key(files)]) == set(PACKAGE)

    await asyncio.sleep(0.05)
    victim = folder / "weights" / "model.bin"
    before = victim.stat()
    writable(victim)
    with victim.open("r+b") as handle:
        handle.write(b"\xff")
    os.chmod(victim, 0o444)
    os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))

    again = await cache.fetch("pkg", files)
    assert contents(again) == PACKAGE
    assert cache.mismatches == 1


@pytest.mark.parametrize(
    "added", ["sitecustomize.py", "weights/evil.pth", "newdir/x.py", "link-to-etc"]
)
async def test_an_added_file_is_found_and_the_copy_fetched_again(
    tmp_path: Path, added: str
) -> None:
    cache = ModelCache(tmp_path / "cache", await stored(tmp_path))
    folder = await cache.fetch("pkg", manifest(PACKAGE))
    path = folder / added
    writable(path.parent if path.parent.exists() else folder)
    if added == "link-to-etc":
        path.symlink_to("/etc")
    else:
        path.parent.mkdir(exist_ok=True)
        path.write_text("import os\n")

    again = await cache.fetch("pkg", manifest(PACKAGE))
    assert contents(again) == PACKAGE
    assert not (again / added).is_symlink() and not (again / added).exists()
    assert cache.mismatches == 1


async def test_a_file_replaced_by_a_link_is_found(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path / "cache", await stored(tmp_path))
    folder = await cache.fetch("pkg", manifest(PACKAGE))
    elsewhere = tmp_path / "same.py"
    elsewhere.write_bytes(PACKAGE["model_service.py"])  # same bytes: only the link differs
    writable(folder)
    (folder / "model_service.py").unlink()
    (folder / "model_service.py").symlink_to(elsewhere)

    again = await cache.fetch("pkg", manifest(PACKAGE))
    assert not (again / "model_service.py").is_symlink()
    assert cache.mismatches == 1


async def test_two_model_caches_fetch_one_package_at_once(tmp_path: Path) -> None:
    store = await stored(tmp_path)
    caches = [ModelCache(tmp_path / "cache", store) for _ in range(3)]
    folders = await asyncio.gather(*(c.fetch("pkg", manifest(PACKAGE)) for c in caches))
    assert len(set(folders)) == 1
    assert contents(folders[0]) == PACKAGE
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [folders[0].name]


# Fetches the package once the other process has started its download too (a barrier of
# files), so that both rename a finished copy to the same name.
FETCH_SCRIPT = """
import asyncio, json, sys, time
from pathlib import Path
from app.adapters.object_store.local import LocalObjectStore
from app.serving.cache import ModelCache

base, me, entries = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])

class Entry:
    def __init__(self, path, size, sha256):
        self.path, self.size, self.sha256 = path, size, sha256

class Meeting(LocalObjectStore):
    async def get(self, key, **kw):
        (base / f"ready-{me}").touch()
        deadline = time.monotonic() + 30
        while len(list(base.glob("ready-*"))) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        async for chunk in super().get(key, **kw):
            yield chunk

async def main():
    cache = ModelCache(base / "cache", Meeting(base / "objects"))
    folder = await cache.fetch("pkg", [Entry(**e) for e in entries])
    print(folder)

asyncio.run(main())
"""


async def test_two_processes_fetch_one_package_at_once(tmp_path: Path) -> None:
    await stored(tmp_path)
    entries = json.dumps([e.__dict__ for e in manifest(PACKAGE)])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            FETCH_SCRIPT,
            str(tmp_path),
            name,
            entries,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    outputs = [await asyncio.wait_for(p.communicate(), 60) for p in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err.decode()
    folders = {out.decode().strip() for out, _ in outputs}
    assert folders == {str(tmp_path / "cache" / content_key(manifest(PACKAGE)))}
    assert contents(Path(folders.pop())) == PACKAGE


async def test_a_crashed_process_s_staging_folders_are_swept(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    old, fresh = root / ".tmp-abc-1", root / ".tmp-abc-2"
    for folder in (old, fresh):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "part.bin").write_bytes(b"x")
    hours_ago = time.time() - 7200
    for path in (old / "sub" / "part.bin", old / "sub", old):
        os.utime(path, (hours_ago, hours_ago))

    cache = ModelCache(root, await stored(tmp_path))
    await cache.fetch("pkg", manifest(PACKAGE))
    assert not old.exists() and fresh.exists()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_bootstrap_builds_one_model_cache(settings: Settings) -> None:
    container = await build(settings)
    try:
        cache = container.serving.cache
        assert container.batch_worker.cache is cache
        assert container.optimizations.cache is cache
    finally:
        await container.close()
