#!/usr/bin/env bash
# Install what the tests need on a fresh Debian machine, then run ruff and the whole suite.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/mapping -x).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
[ -x /usr/sbin/dovecot ] || packages+=(dovecot-imapd)
# bench smoke tests (tests/bench) run the peers: mbsync and offlineimap
command -v mbsync >/dev/null || packages+=(isync)
command -v offlineimap >/dev/null || packages+=(offlineimap)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || packages+=(postgresql)
# rate limits shared across API processes count in Redis
command -v redis-server >/dev/null || packages+=(redis-server)
# the task pane's browser tests drive Debian's Chromium (never a downloaded browser build)
[ -x /usr/bin/chromium ] || packages+=(chromium)
if [ ${#packages[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing ${packages[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${packages[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
