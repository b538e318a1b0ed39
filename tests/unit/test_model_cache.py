"""The model cache's smaller contracts: missing files, empty manifests, writable copies for
the optimizer, the sweep of crashed downloads, the mismatch counter. (The attacks on it are in
tests/security/test_model_cache.py.)"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from prometheus_client import generate_latest

from app.monitoring.process import ProcessSampler
from app.monitoring.prometheus import MonitoringCollector, registry_for
from app.monitoring.recorder import Recorder
from app.serving._cache_files import sweep
from app.serving.cache import ModelCache, writable_copy
from tests.security.test_model_cache import PACKAGE, contents, manifest, stored


async def test_a_missing_file_is_fetched_again(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path / "cache", await stored(tmp_path))
    folder = await cache.fetch("pkg", manifest(PACKAGE))
    os.chmod(folder / "weights", 0o755)
    (folder / "weights" / "model.bin").unlink()

    again = await cache.fetch("pkg", manifest(PACKAGE))
    assert contents(again) == PACKAGE
    assert cache.mismatches == 1


async def test_an_empty_manifest_is_an_empty_read_only_folder(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path / "cache", await stored(tmp_path))
    folder = await cache.fetch("pkg", [])
    assert list(folder.iterdir()) == []
    assert stat.S_IMODE(folder.stat().st_mode) == 0o555
    assert await cache.fetch("pkg", []) == folder
    assert cache.mismatches == 0


async def test_a_writable_copy_of_a_cached_package_can_be_added_to(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path / "cache", await stored(tmp_path))
    folder = await cache.fetch("pkg", manifest(PACKAGE))
    copy = tmp_path / "work" / "package"
    writable_copy(folder, copy)
    for path in (copy, copy / "weights"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o200
    for name in PACKAGE:
        assert stat.S_IMODE((copy / name).stat().st_mode) & 0o200
    assert contents(copy) == PACKAGE


def test_the_sweep_keeps_a_download_still_being_written(tmp_path: Path) -> None:
    """A long download of one big file changes only that file: the folder counts as live."""
    staging = tmp_path / ".tmp-key-1"
    (staging / "deep").mkdir(parents=True)
    (staging / "deep" / "big.bin").write_bytes(b"x")
    hours_ago = time.time() - 7200
    os.utime(staging / "deep", (hours_ago, hours_ago))
    os.utime(staging, (hours_ago, hours_ago))
    (tmp_path / "abc").mkdir()  # a finished copy: never swept
    os.utime(tmp_path / "abc", (hours_ago, hours_ago))

    assert sweep(tmp_path, (".tmp-",), 3600) == []
    os.utime(staging / "deep" / "big.bin", (hours_ago, hours_ago))
    assert sweep(tmp_path, (".tmp-",), 3600) == [".tmp-key-1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abc"]


def test_the_mismatch_counter_is_exposed_to_prometheus() -> None:
    collector = MonitoringCollector(Recorder(), ProcessSampler(), cache_mismatches=lambda: 2)
    scrape = generate_latest(registry_for(collector)).decode()
    assert "modelrepo_model_cache_mismatches_total 2.0" in scrape
