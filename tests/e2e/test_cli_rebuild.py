"""`modelrepo projections rebuild`: the read models come out the same, from the database
and the projector alone (nothing of serving or batch is loaded)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.adapters.event_store.port import EventMeta
from app.bootstrap import build
from app.services.models import VersionSpec
from app.settings import Settings
from tests.integration.test_projections import dump

META = EventMeta(actor="tester")
# Runs the command in this process and says which heavy modules it imported.
PROBE = (
    "import sys\n"
    "from app.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "heavy = ('app.bootstrap', 'pandas', 'pyarrow')\n"
    "print('loaded:', sorted(m for m in heavy if m in sys.modules))\n"
    "sys.exit(code)\n"
)


def rebuild(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MODELREPO_DATABASE_URL": database_url,
        "MODELREPO_DATA_DIR": str(data_dir),
    }
    return subprocess.run(
        [sys.executable, "-c", PROBE, "projections", "rebuild", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def test_rebuild_gives_the_same_read_models_without_loading_the_rest(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    container = await build(settings)
    try:
        model, _ = await container.models.import_model(
            "m", VersionSpec("ONNX"), tags={"k": "v"}, meta=META
        )
        for _ in range(3):
            await container.models.import_version(model.id, VersionSpec("PMML"), meta=META)
        before = await dump(container.db)
        last = await container.store.last_position()
    finally:
        await container.close()

    done = rebuild(database_url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"rebuilt projections up to position {last}", "loaded: []"]

    container = await build(settings)
    try:
        assert await dump(container.db) == before
    finally:
        await container.close()


def test_rebuild_of_an_unknown_read_model_is_a_clear_error(tmp_path: Path) -> None:
    done = rebuild(f"sqlite:///{tmp_path / 'modelrepo.db'}", tmp_path, "--only", "nope")
    assert done.returncode == 1
    assert "modelrepo: error: unknown projections: nope" in done.stderr
