"""Service access keys: generated here, stored hashed in events and encrypted at rest in a
table of their own (outside the event log) so editors can reveal them later.

The encryption key comes from MODELREPO_SECRET_KEY, or a file generated in the data
directory on first use (single-host setups); servers sharing a database share the key.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from app.adapters.sql.port import Database

KEY_PREFIX = "sk_"
DDL = (
    "CREATE TABLE IF NOT EXISTS service_keys ("
    " key_hash TEXT PRIMARY KEY, service_id TEXT NOT NULL, ciphertext TEXT NOT NULL)"
)


def new_access_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_host_id() -> str:
    """26 lower-case letters and digits (128 random bits, base32), like
    mfrggzdfmztwq2lknnwg23tpoa: one DNS label, which proxies may lower-case. (Ids made
    before were 22 mixed-case URL-safe characters; hosts match them ignoring case.)"""
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(key: str, key_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(hash_key(key), key_hash)


def load_fernet(secret: str, data_dir: Path) -> Fernet:
    if secret:
        material = hashlib.sha256(secret.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(material))
    path = data_dir / "secret.key"
    if not path.exists():
        _create_key_file(path)
    return Fernet(path.read_bytes().strip())


def _create_key_file(path: Path) -> None:
    """A new key, written whole to a file of its own and then linked into place: servers
    starting together on one data directory never read a key half written, and the first
    link wins (the others read its key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(Fernet.generate_key())
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another server created it first
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class KeyVault:
    def __init__(self, db: Database, fernet: Fernet) -> None:
        self.db = db
        self.fernet = fernet

    async def setup(self) -> None:
        async with self.db.transaction() as tx:
            if self.db.dialect == "postgres":
                # Servers starting together must not race on CREATE TABLE.
                await tx.execute("SELECT pg_advisory_xact_lock(7420002)")
            await tx.execute(DDL)

    async def store(self, service_id: str, key: str) -> str:
        """Keep ``key`` (encrypted) and return its hash, the only form events record."""
        key_hash = hash_key(key)
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO service_keys (key_hash, service_id, ciphertext) VALUES ($1, $2, $3)",
                key_hash,
                service_id,
                self.fernet.encrypt(key.encode()).decode(),
            )
        return key_hash

    async def reveal(self, key_hash: str) -> str | None:
        ciphertext = await self.db.fetchval(
            "SELECT ciphertext FROM service_keys WHERE key_hash = $1", key_hash
        )
        if ciphertext is None:
            return None
        try:
            return self.fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            return None  # encrypted with another secret key

    async def forget(self, service_id: str, keep: str | None = None) -> None:
        """Drop a service's old keys (all but ``keep``)."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "DELETE FROM service_keys WHERE service_id = $1 AND key_hash <> $2",
                service_id,
                keep or "",
            )
