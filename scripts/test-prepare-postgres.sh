#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on loopback for the queue module's tests (test.sh runs every
# scripts/test-prepare-*.sh before `mvn verify`). Idempotent: installs Debian's postgresql package only when no server
# binaries are there, creates the cluster only once, starts it only when it is not running.
#
# The cluster lives under $REQUANT_TEST_PG_DIR (default /tmp/requant-test-postgres), listens on 127.0.0.1 only, port
# $REQUANT_TEST_PG_PORT (default 54329), trusts loopback connections (it holds nothing but test data), and runs as the
# `postgres` system user when this script runs as root (initdb refuses root). The URL the tests read is written to
# $REQUANT_TEST_PG_DIR/url: postgresql://requant@127.0.0.1:PORT/requant (role requant may create databases; each test
# creates and drops its own). test.sh stops the server again at its end (scripts/test-stop-postgres.sh; set
# REQUANT_KEEP_POSTGRES=1 to keep it for further `mvn -pl queue test` runs).
set -euo pipefail
dir="${REQUANT_TEST_PG_DIR:-/tmp/requant-test-postgres}"
port="${REQUANT_TEST_PG_PORT:-54329}"
data="$dir/data"
log="$dir/server.log"

find_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  return 1
}

if ! bin="$(find_bin)"; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-prepare-postgres: PostgreSQL server binaries not found and not root: install the Debian package postgresql" >&2
    exit 1
  fi
  echo "test-prepare-postgres: installing Debian's postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  bin="$(find_bin)"
fi

# Run the server tools as the postgres user when we are root, as ourselves otherwise.
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  owner="$(id -un)"
  as_owner() { "$@"; }
fi

mkdir -p "$dir"
chown "$owner" "$dir"
chmod 700 "$dir"

if [ ! -f "$data/PG_VERSION" ]; then
  rm -rf "$data"
  as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
fi

if ! as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null
  # scripts/test-stop-postgres.sh stops only a server this script started, never one that was up already
  echo "$bin" >"$dir/started-by-test-prepare"
fi

psql_admin() { as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres "$@"; }
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'requant'")" != 1 ]; then
  psql_admin -c "CREATE ROLE requant LOGIN CREATEDB"
fi
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'requant'")" != 1 ]; then
  psql_admin -c "CREATE DATABASE requant OWNER requant"
fi

url="postgresql://requant@127.0.0.1:$port/requant"
echo "$url" >"$dir/url"
chmod 644 "$dir/url"
echo "test-prepare-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') at $url (data $data)" >&2
