#!/usr/bin/env bash
# Dovecot's POP3 server (and openssl for the test certificates), for test/adapters/mailbox/dovecot.test.ts and
# bench/pop3.bench.ts. The tests start their own dovecot on loopback with a throw-away configuration in a temporary
# folder; the package's system service is not used.
set -euo pipefail
if command -v dovecot >/dev/null 2>&1 && [ -x /usr/lib/dovecot/pop3 ] && command -v openssl >/dev/null 2>&1; then
  echo "dovecot: $(dovecot --version)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Another service script may hold the apt lock: wait for it rather than fail.
apt_get() {
  for attempt in 1 2 3 4 5 6; do
    apt-get -o DPkg::Lock::Timeout=120 "$@" && return 0
    echo "apt-get $1 failed (attempt $attempt), retrying"
    sleep 10
  done
  return 1
}
apt_get update -qq
apt_get install -y --no-install-recommends dovecot-core dovecot-pop3d openssl
dovecot --version
