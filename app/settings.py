"""Configuration from the environment (prefix MODELREPO_)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODELREPO_", extra="ignore")

    data_dir: Path = Path("./data")
    # Empty means SQLite under data_dir; postgresql://user:pass@host/db for a team setup.
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    # The largest GraphQL request body accepted (bytes); larger ones get 413.
    max_request_bytes: int = 1_000_000
    # The largest upload (multipart request) accepted; larger ones get 413.
    max_upload_bytes: int = 10 * 1024**3
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 4000
    # Print a first admin token when the store has none.
    bootstrap_admin_token: bool = True
    projection_poll_seconds: float = 0.5
    graphiql: bool = True
    # The built web console served at / (empty: the repository's web/dist).
    console_dir: Path | None = None
    # Encrypts service access keys at rest; servers sharing a database need the same one.
    # Empty: a key generated into data_dir/secret.key on first start.
    secret_key: str = ""
    # The data plane: predict bodies and rows per request, server-side batching.
    max_predict_bytes: int = 20 * 1024**2
    max_predict_rows: int = 10_000
    max_batch_size: int = 64
    # 0: no waiting for company; batches still grow while a predict is running.
    max_batch_wait_ms: float = 0.0
    # Seconds between SIGTERM (readiness turns false) and the start of draining.
    drain_grace_seconds: float = 1.0
    # `modelrepo serve` also schedules and executes batch runs (`modelrepo worker` alone).
    batch_worker: bool = True
    # `modelrepo serve` also runs optimization jobs, this many at once.
    optimization_worker: bool = True
    optimization_jobs: int = 2
    # Rows per input chunk (one output part each), seconds between heartbeats, and how old
    # a heartbeat may get before another worker takes the run over.
    batch_chunk_rows: int = 50_000
    batch_heartbeat_seconds: float = 5.0
    batch_stale_seconds: float = 60.0
    batch_poll_seconds: float = 1.0
    # Object storage for model files: empty means a directory under data_dir. The S3
    # settings also serve imports from s3:// and cos:// URIs.
    storage_url: str = ""
    s3_endpoint_url: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_region: str = "us-east-1"
    # Monitoring: per-request metrics, GET /metrics and rolled-up series in the database.
    # Off, the predict path records nothing and /metrics answers 404.
    monitoring: bool = True
    # Every interval each server process writes its deltas at this resolution (kept
    # metrics_retention_days) and at the coarse one (kept metrics_coarse_retention_days).
    metrics_interval_seconds: int = 10
    metrics_retention_days: float = 7.0
    metrics_coarse_seconds: int = 3600
    metrics_coarse_retention_days: float = 90.0
    # serviceMetrics answers at most this many points per series (a wider step otherwise).
    metrics_max_points: int = 1000

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'modelrepo.db'}"
