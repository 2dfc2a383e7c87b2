#!/usr/bin/env bash
# Starts the PostgreSQL 15 and MariaDB servers the SQL test suites need, on loopback, unless
# they already answer; installs MariaDB if it is missing; creates database `test` in each.
# Idempotent. Prints the two URLs as `export` lines, so:  eval "$(scripts/test-databases.sh)"
# Needs root (it runs the servers as the postgres and mysql users). Data lives in
# ${TICKETCORE_DB_DIR:-/var/tmp/ticketcore-db}.
set -euo pipefail
dir="${TICKETCORE_DB_DIR:-/var/tmp/ticketcore-db}"
log() { echo "test-databases: $*" >&2; }
mkdir -p "$dir"

# --- PostgreSQL -----------------------------------------------------------------------------
pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
if pg_ready; then
  log "PostgreSQL already answers on 127.0.0.1:5432"
else
  if ! command -v initdb >/dev/null; then
    pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$pgbin" ]; then
      log "installing PostgreSQL"
      apt-get install -y -qq postgresql >/dev/null
      pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    fi
    export PATH="$pgbin:$PATH"
  fi
  id postgres >/dev/null 2>&1 || useradd --system --home "$dir" postgres
  pgdata="$dir/pg"
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    log "initialising PostgreSQL in $pgdata"
    mkdir -p "$pgdata" && chown postgres "$pgdata" && chmod 700 "$pgdata"
    su postgres -s /bin/sh -c "$(command -v initdb) -D '$pgdata' -U postgres -A trust" >/dev/null
  fi
  chown -R postgres "$pgdata"
  log "starting PostgreSQL"
  su postgres -s /bin/sh -c "$(command -v pg_ctl) -D '$pgdata' -l '$pgdata/server.log' \
    -o '-c listen_addresses=127.0.0.1 -p 5432 -k $pgdata -c max_connections=400 -c fsync=on' -w start" >/dev/null
fi
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE test"

# --- MariaDB --------------------------------------------------------------------------------
my_ready() { mariadb -h127.0.0.1 -P3306 -uroot -e 'select 1' >/dev/null 2>&1; }
if my_ready; then
  log "MariaDB already answers on 127.0.0.1:3306"
else
  if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then
    log "installing MariaDB"
    (apt-get install -y -qq mariadb-server >/dev/null 2>&1) || { apt-get update -qq && apt-get install -y -qq mariadb-server >/dev/null; }
  fi
  mydata="$dir/mariadb"
  if [ ! -d "$mydata/mysql" ]; then
    log "initialising MariaDB in $mydata"
    mkdir -p "$mydata" && chown mysql "$mydata"
    mariadb-install-db --user=mysql --datadir="$mydata" --auth-root-authentication-method=normal >/dev/null
  fi
  chown -R mysql "$mydata"
  log "starting MariaDB"
  (/usr/sbin/mariadbd --user=mysql --datadir="$mydata" --bind-address=127.0.0.1 --port=3306 \
     --socket="$mydata/sock" --pid-file="$mydata/mariadbd.pid" --max-connections=400 --log-error="$mydata/server.log" >/dev/null 2>&1 &)
  for _ in $(seq 1 60); do my_ready && break; sleep 0.5; done
  my_ready || { log "MariaDB did not come up; see $mydata/server.log"; exit 1; }
fi
mariadb -h127.0.0.1 -P3306 -uroot -e 'CREATE DATABASE IF NOT EXISTS test'

echo "export TICKETCORE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test"
echo "export TICKETCORE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test"
