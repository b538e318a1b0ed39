"""Short-lived signed download links, so a browser can download a version's files by
navigating to a URL (streamed to disk) instead of fetching them into memory to send a token.

A link is the ordinary download route plus ``expires`` (unix seconds) and ``signature``: an
HMAC-SHA256 over the version, what is downloaded (the package or one file), the file-set
revision and the expiry. The key is derived from the server's secret (MODELREPO_SECRET_KEY,
or the generated data_dir/secret.key), so servers sharing that secret accept each other's
links. Anyone holding a link can use it until it expires: it is minted for a signed-in
caller (``versionDownloadLink``) and lives minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send

from app.settings import Settings

LINK_SECONDS = 300
PACKAGE = "package.zip"


@lru_cache(maxsize=8)
def _key(secret: str, data_dir: Path) -> bytes:
    material = secret.encode() if secret else (data_dir / "secret.key").read_bytes().strip()
    return hmac.new(material, b"modelrepo download links v1", hashlib.sha256).digest()


def link_key(settings: Settings) -> bytes:
    """The signing key. Without MODELREPO_SECRET_KEY, the key file generated at start-up."""
    return _key(settings.secret_key, Path(settings.data_dir))


def signature(key: bytes, version_id: str, target: str, revision: int, expires: int) -> str:
    """``target``: "package.zip", or "files/<path>" for one file."""
    message = "\n".join((version_id, target, str(revision), str(expires))).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_query(
    key: bytes, version_id: str, target: str, revision: int, now: float | None = None
) -> tuple[str, int]:
    """The query string of a link valid for LINK_SECONDS, and its expiry (unix seconds)."""
    expires = int(now if now is not None else time.time()) + LINK_SECONDS
    sig = signature(key, version_id, target, revision, expires)
    return urlencode({"revision": revision, "expires": expires, "signature": sig}), expires


def link_problem(
    key: bytes, version_id: str, target: str, query: Mapping[str, str], now: float | None = None
) -> str | None:
    """Why this signed request is refused (None: it is good)."""
    expires, revision = query.get("expires", ""), query.get("revision", "")
    given = query.get("signature", "")
    if not (expires.isdigit() and revision.isdigit()):
        return "a download link needs revision, expires and signature"
    wanted = signature(key, version_id, target, int(revision), int(expires))
    if not hmac.compare_digest(wanted, given):
        return "the download link's signature does not match (altered, or from another server)"
    if int(expires) <= (now if now is not None else time.time()):
        return "the download link has expired: ask for a new one"
    return None


class SignedLinks:
    """In front of the token gate of the download routes: a request with a ``signature``
    goes to the routes without a token (they check the link); all others go to the gate."""

    def __init__(self, gated: ASGIApp, routes: ASGIApp) -> None:
        self.gated = gated
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        signed = scope["type"] == "http" and "signature" in parse_qs(query)
        await (self.routes if signed else self.gated)(scope, receive, send)
