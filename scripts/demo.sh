#!/usr/bin/env bash
# Install crmsync, load the sample CRM and mailbox into a SQLite file, and serve it.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
mkdir -p demo
export CRMSYNC_DATABASE_URL="${CRMSYNC_DATABASE_URL:-sqlite:///demo/crmsync.db}"
crmsync=.venv/bin/crmsync

$crmsync db upgrade
$crmsync org set-domains northwind.example
$crmsync crm import --users samples/users.csv --accounts samples/accounts.csv \
  --contacts samples/contacts.csv --opportunities samples/opportunities.csv
$crmsync mail import samples/mailbox.mbox
key=$($crmsync apikey create maria.lopez@northwind.example)
# The admin console's sign-in: a fresh password for the sample admin on every run.
export CRMSYNC_DEMO_ADMIN_PASSWORD="$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))')"
$crmsync user add olivia.admin@northwind.example --password-env CRMSYNC_DEMO_ADMIN_PASSWORD >/dev/null
cat <<MSG

crmsync is running with the sample CRM and mailbox (database: $CRMSYNC_DATABASE_URL).
  Admin console:   http://127.0.0.1:8000/admin/  (olivia.admin@northwind.example / $CRMSYNC_DEMO_ADMIN_PASSWORD)
  Sender lookup:   curl -H 'Authorization: Bearer $key' 'http://127.0.0.1:8000/api/v1/lookup?address=ana.ruiz@acme.example'
  Export:          CRMSYNC_DATABASE_URL=$CRMSYNC_DATABASE_URL $crmsync export activities
  Task pane:       http://127.0.0.1:8000/addin/preview?message=demo-001@mail.example
MSG
CRMSYNC_DEMO=1 exec $crmsync serve --host 127.0.0.1 --port 8000
