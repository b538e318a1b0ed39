"""Attacks on the trust boundary, each a test that failed before its defence was built.

Fixtures of the e2e suite (``settings``, ``api``, ``database_url``) are shared from there.
"""

from __future__ import annotations

from tests.e2e.conftest import api, settings

__all__ = ["api", "settings"]
