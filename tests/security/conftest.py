"""Attacks on the trust boundary, each a test that failed before its defence was built.

Fixtures of the e2e suite (``settings``, ``api``, ``s3_api``) are shared from there.
"""

from __future__ import annotations

from tests.e2e.conftest import api, settings
from tests.e2e.test_s3_imports import s3_api

__all__ = ["api", "s3_api", "settings"]
