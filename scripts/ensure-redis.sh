#!/usr/bin/env bash
# Tests start real redis-server and redis-sentinel processes; install Debian's packages when missing.
set -euo pipefail
missing=()
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then missing+=(redis-server); fi
if ! command -v redis-sentinel >/dev/null 2>&1; then missing+=(redis-sentinel); fi
if [ "${#missing[@]}" = 0 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "${missing[*]} not found: installing Debian's ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "${missing[*]} needed by the tests: install it (e.g. sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
