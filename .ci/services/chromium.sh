#!/usr/bin/env bash
# Chromium from the Debian package, driven by playwright-core in the dashboard's browser tests (headless, no
# browser download: the tests launch /usr/bin/chromium).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  /usr/bin/chromium --version || true
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
