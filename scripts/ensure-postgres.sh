#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1:5432 before the tests. In CI (CI=true) a
# stopped local cluster is started; elsewhere we only say what is missing.
set -euo pipefail
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ready; then exit 0; fi
if [ "${CI:-}" = "true" ] && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "PostgreSQL is not reachable; starting the local cluster" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
    echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2
    exit 1
fi
echo "PostgreSQL is not reachable on 127.0.0.1:5432; its integration tests will be skipped" >&2
