#!/usr/bin/env bash
# Stops the test PostgreSQL (127.0.0.1:54329 by default) that scripts/test-prepare-postgres.sh started; test.sh runs
# it at its end. A server that was running before test.sh, or REQUANT_KEEP_POSTGRES=1, is left running. The data
# stays under $REQUANT_TEST_PG_DIR (default /tmp/requant-test-postgres); the next test-prepare-postgres.sh starts it.
set -euo pipefail
dir="${REQUANT_TEST_PG_DIR:-/tmp/requant-test-postgres}"
marker="$dir/started-by-test-prepare"
[ -f "$marker" ] || exit 0
if [ -n "${REQUANT_KEEP_POSTGRES:-}" ]; then
  echo "test-stop-postgres: left running (REQUANT_KEEP_POSTGRES); stop it with: bash scripts/test-stop-postgres.sh" >&2
  exit 0
fi
bin="$(cat "$marker")"
if [ "$(id -u)" = 0 ]; then
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -w -t 60 -m fast stop >/dev/null
else
  "$bin/pg_ctl" -D "$dir/data" -w -t 60 -m fast stop >/dev/null
fi
rm -f "$marker"
echo "test-stop-postgres: stopped the test PostgreSQL" >&2
