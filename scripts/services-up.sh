#!/usr/bin/env bash
# Start PostgreSQL (Debian's cluster, run by the postgres user) and Redis on loopback for the
# integration tests, then print the variables that point the tests at them:
#
#   eval "$(scripts/services-up.sh)"
#   .venv/bin/python -m pytest -m integration
#
# Safe to run again: what is already running or already created is left as it is.
# Needs root (CI runs as root in a fresh container) or a user allowed to `sudo -u postgres`.
set -euo pipefail

PG_PORT="${PG_PORT:-5432}"
REDIS_PORT="${REDIS_PORT:-6379}"
RUN_DIR="${RUN_DIR:-/tmp/rlaif-lab-services}"
mkdir -p "$RUN_DIR"

as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sudo -u postgres sh -c "$1"; fi
}

# -- PostgreSQL -----------------------------------------------------------------------------
version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
if [ -z "$version" ]; then
  echo "PostgreSQL is not installed: apt-get install postgresql" >&2
  exit 1
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
  pg_createcluster "$version" main --port "$PG_PORT" >&2
fi
# listen_addresses defaults to localhost: loopback only.
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
  pg_ctlcluster "$version" main start >&2
fi
port="$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')"
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 1; done
pg_isready -h 127.0.0.1 -p "$port" >&2
# A role that may create the tests' throw-away databases.
as_postgres "psql -q -p $port -v ON_ERROR_STOP=1 -c \"DO \\\$\\\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lab') THEN CREATE ROLE lab LOGIN CREATEDB PASSWORD 'lab'; END IF;
END \\\$\\\$;\"" >&2
if ! as_postgres "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname = 'lab'\"" | grep -q 1; then
  as_postgres "createdb -p $port -O lab lab" >&2
fi

# -- Redis ----------------------------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --pidfile "$RUN_DIR/redis.pid" --logfile "$RUN_DIR/redis.log" --dir "$RUN_DIR" >&2
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >&2

echo "export TEST_DATABASE_URL=postgres://lab:lab@127.0.0.1:$port/lab"
# Database 15 of Redis: the tests empty it before each lab.
echo "export TEST_CELERY_BROKER_URL=redis://127.0.0.1:$REDIS_PORT/15"
