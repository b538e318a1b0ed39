"""Configuration from the environment (prefix MODELREPO_)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def _split_domains(value: str) -> tuple[str, ...]:
    return tuple(d.strip().rstrip(".").lower() for d in value.split(",") if d.strip())


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
    # GraphQL cost, counted with fragment spreads expanded: fields selected in all, fragment
    # definitions, and the query text's size (bytes). Checked before any other rule.
    max_query_fields: int = 5000
    max_fragments: int = 100
    max_query_bytes: int = 100_000
    # The parsed-document and validation caches: at most this many query-text bytes in all.
    graphql_cache_bytes: int = 16 * 1024**2
    # JSON bodies (GraphQL variables, predict payloads) nested deeper get 400.
    max_json_depth: int = 64
    # HTTP: all request headers together (431 past it), seconds to receive a request's
    # headers, and seconds an idle keep-alive connection stays open.
    max_header_bytes: int = 64 * 1024
    header_timeout_seconds: float = 10.0
    # Seconds a request body may go without a byte arriving (slow uploads still pass).
    body_timeout_seconds: float = 30.0
    keepalive_timeout_seconds: float = 5.0
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
    # Domains under which a Host `<service host id>.<domain>` routes to that service
    # (comma-separated, e.g. "models.example.com,ml.internal"); empty: the first label of
    # any Host. Matched ignoring case and the port; other Hosts use the path's name.
    service_domains: str = ""
    # User code (custom runtimes' model_service.py, PyTorch export scripts) runs in a
    # bubblewrap sandbox. true: run it without one, with the server's privileges (unsafe).
    unsafe_user_code: bool = False
    # The bwrap program, and the uid user code runs as when the server runs as root.
    bwrap_path: str = "bwrap"
    sandbox_uid: int = 65534
    # Upper bounds on what a deployment may ask for. Memory: 0 means half this machine's.
    user_code_max_memory_mb: int = 0
    user_code_max_processes: int = 64
    user_code_max_open_files: int = 1024
    user_code_max_file_mb: int = 1024
    user_code_tmp_mb: int = 256
    # Whether a package's config.json may ask for network access ("network": true).
    user_code_network: bool = True
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

    @field_validator("service_domains")
    @classmethod
    def _domain_names(cls, value: str) -> str:
        for domain in _split_domains(value):
            labels = domain.split(".")
            if len(domain) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
                raise ValueError(f"service domain {domain!r} is not a DNS name")
        return value

    @property
    def service_domain_names(self) -> tuple[str, ...]:
        """The service domains, lower-cased."""
        return _split_domains(self.service_domains)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'modelrepo.db'}"
