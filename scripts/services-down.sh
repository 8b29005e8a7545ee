#!/usr/bin/env bash
# Stop what scripts/services-up.sh started (the PostgreSQL cluster and Redis on loopback).
set -uo pipefail
REDIS_PORT="${REDIS_PORT:-6379}"
version="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)"
[ -n "$version" ] && pg_ctlcluster "$version" main stop 2>/dev/null
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave 2>/dev/null
exit 0
