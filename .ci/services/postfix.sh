#!/usr/bin/env bash
# Postfix (and openssl for the test certificates), for test/adapters/smtp/postfix.test.ts. The tests start their own
# Postfix on loopback with a throw-away configuration in a temporary folder (postfix -c DIR start); the package's
# system instance is never used, and must not hold port 25 or run a queue of its own.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v postfix >/dev/null 2>&1 || [ ! -x /usr/lib/postfix/sbin/master ] || ! command -v openssl >/dev/null 2>&1; then
  # "No configuration": the package writes no /etc/postfix/main.cf and starts nothing.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string localhost" | debconf-set-selections
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
  apt_get install -y --no-install-recommends postfix openssl
fi
# A system Postfix (installed with a configuration, or started by the package) would conflict: stop and disable it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now postfix.service >/dev/null 2>&1 || true
fi
# master -t fails while a master runs for the default configuration
if [ -f /etc/postfix/main.cf ] && ! /usr/lib/postfix/sbin/master -t 2>/dev/null; then
  postfix stop || true
fi
postconf -d mail_version
