#!/usr/bin/env bash
# User code (custom runtimes' model_service.py, PyTorch exports) runs only in a bubblewrap
# sandbox (app/sandbox). Install bwrap when it is missing (we run as root), quietly.
set -euo pipefail
command -v bwrap >/dev/null && exit 0
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
    echo "bubblewrap (bwrap) is missing: install it (apt-get install bubblewrap)," \
        "or set MODELREPO_UNSAFE_USER_CODE=true to run user code without a sandbox" >&2
    if [ "${CI:-}" = "true" ]; then exit 1; fi
    exit 0
fi
echo "installing bubblewrap" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null
