#!/usr/bin/env bash
# Run every benchmark on this machine: installs the peers when missing, then prints the tables.
# Usage: bash bench/run.sh [--messages N]   (extra arguments go to imap_ingest)
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v mbsync >/dev/null || missing+=(isync)
command -v offlineimap >/dev/null || missing+=(offlineimap)
[ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi
[ -d .venv ] || { python3 -m venv .venv; .venv/bin/pip install -q -e '.[test]'; }
. .venv/bin/activate
python -m bench.imap_ingest "$@"
python -m bench.latency
python -m bench.lookup
