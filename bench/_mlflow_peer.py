# mypy: disable-error-code="import-not-found"
"""Seeds the MLflow model registry; runs in the peer's own virtualenv, never in ours.

Creating versions through MLflow's REST API runs at tens per second, so the seed writes
rows with MLflow's own ORM tables in bulk, filled as ``SqlAlchemyStore`` fills them
(registered model, then versions 1..n, ``last_updated_time`` = newest version's time).
The benchmark only reads these rows back through the REST API.

    python _mlflow_peer.py seed --db-uri URI --start 0 --stop 10000 --versions-per-model 10

prints one JSON line: {"models": ..., "versions": ..., "seconds": ...}.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import sqlalchemy as sa
from mlflow.entities.model_registry.model_version_stages import STAGE_NONE
from mlflow.entities.model_registry.model_version_status import ModelVersionStatus
from mlflow.store.model_registry.dbmodels.models import SqlModelVersion, SqlRegisteredModel
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

CHUNK = 1000


def seed_name(i: int) -> str:
    # The same names modelrepo is seeded with (bench/_modelrepo.py).
    return f"seed-{i:06d}"


def seed(db_uri: str, start: int, stop: int, versions_per_model: int) -> dict[str, Any]:
    engine = sa.create_engine(db_uri)
    ready = ModelVersionStatus.to_string(ModelVersionStatus.READY)
    began = time.perf_counter()
    versions = 0
    with engine.begin() as conn:
        for first in range(start, stop, CHUNK):
            now = int(time.time() * 1000)
            names = [seed_name(i) for i in range(first, min(stop, first + CHUNK))]
            conn.execute(
                sa.insert(SqlRegisteredModel.__table__),
                [
                    {
                        "workspace": DEFAULT_WORKSPACE_NAME,
                        "name": name,
                        "creation_time": now,
                        "last_updated_time": now,
                        "description": "",
                    }
                    for name in names
                ],
            )
            rows = [
                {
                    "workspace": DEFAULT_WORKSPACE_NAME,
                    "name": name,
                    "version": n,
                    "creation_time": now,
                    "last_updated_time": now,
                    "description": "",
                    "user_id": None,
                    "current_stage": STAGE_NONE,
                    "source": f"s3://bench/{name}/{n}",
                    "storage_location": f"s3://bench/{name}/{n}",
                    "run_id": None,
                    "run_link": None,
                    "status": ready,
                    "status_message": None,
                }
                for name in names
                for n in range(1, versions_per_model + 1)
            ]
            conn.execute(sa.insert(SqlModelVersion.__table__), rows)
            versions += len(rows)
    engine.dispose()
    return {"models": stop - start, "versions": versions, "seconds": time.perf_counter() - began}


def main() -> None:
    root = argparse.ArgumentParser(description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("seed")
    cmd.add_argument("--db-uri", required=True)
    cmd.add_argument("--start", type=int, required=True)
    cmd.add_argument("--stop", type=int, required=True)
    cmd.add_argument("--versions-per-model", type=int, required=True)
    args = root.parse_args()
    print(json.dumps(seed(args.db_uri, args.start, args.stop, args.versions_per_model)))


if __name__ == "__main__":
    main()
