"""docker-compose.yml cannot run here (no Docker engine), so its parts are checked by reading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from app.bootstrap import open_database
from app.settings import Settings

COMPOSE = Path(__file__).parents[2] / "docker-compose.yml"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_modelrepo_environment_names_real_settings() -> None:
    environment: dict[str, str] = _compose()["services"]["modelrepo"]["environment"]
    fields = {f"MODELREPO_{name.upper()}" for name in Settings.model_fields}
    assert set(environment) <= fields, set(environment) - fields


def test_the_database_url_points_at_the_postgres_service() -> None:
    services = _compose()["services"]
    environment = services["modelrepo"]["environment"]
    url = environment["MODELREPO_DATABASE_URL"]
    db, _ = open_database(url)
    assert db.dialect == "postgres"
    pg = services["postgres"]["environment"]
    expected = (
        f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/"
        f"{pg['POSTGRES_DB']}"
    )
    assert url == expected


def test_the_object_store_credentials_match_minio() -> None:
    services = _compose()["services"]
    environment = services["modelrepo"]["environment"]
    minio = services["minio"]["environment"]
    assert environment["MODELREPO_S3_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
    assert environment["MODELREPO_S3_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    assert environment["MODELREPO_S3_ENDPOINT_URL"] == "http://minio:9000"
    bucket = environment["MODELREPO_STORAGE_URL"].removeprefix("s3://").split("/")[0]
    assert f"local/{bucket}" in services["create-bucket"]["entrypoint"]


def test_the_server_listens_on_the_published_port() -> None:
    service = _compose()["services"]["modelrepo"]
    assert "8000:8000" in service["ports"]
    assert "--host 0.0.0.0 --port 8000" in service["command"]
    assert set(service["depends_on"]) == {"postgres", "create-bucket"}


def test_the_server_can_make_sandboxes_for_user_code() -> None:
    service = _compose()["services"]["modelrepo"]
    assert "apt-get install" in service["command"] and "bubblewrap" in service["command"]
    # bwrap mounts and unshares inside the container; the launcher makes a user namespace.
    assert "SYS_ADMIN" in service["cap_add"]
    assert {"seccomp=unconfined", "apparmor=unconfined"} <= set(service["security_opt"])
    assert "MODELREPO_UNSAFE_USER_CODE" not in service["environment"]
