#!/usr/bin/env bash
# PostgreSQL from the Debian package, for the store's conformance suite and bench. The tests start their own
# throw-away server (initdb/pg_ctl on 127.0.0.1 in a temporary folder); the package's cluster is not used.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "postgresql: $(ls -d /usr/lib/postgresql/*/bin | head -1)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y --no-install-recommends postgresql
ls /usr/lib/postgresql/*/bin/initdb
