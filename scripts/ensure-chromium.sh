#!/usr/bin/env bash
# The documentation site's test (test/docs) drives the simulator in a real headless Chromium:
# install Debian's package when missing, as ensure-redis.sh does for redis-server.
set -euo pipefail
if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "${CHROMIUM_PATH}" ]; then exit 0; fi
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found: installing Debian's chromium" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "chromium needed by the tests (test/docs): install it (e.g. sudo apt-get install chromium), or set CHROMIUM_PATH" >&2
  exit 1
fi
