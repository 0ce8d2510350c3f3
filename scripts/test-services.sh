#!/usr/bin/env bash
# Second pass of the whole test suite, the way a scaled-out installation runs: PostgreSQL for the database,
# Redis for the task queue and an S3-compatible server (moto's, on loopback) for the archives.
# Runs only when PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer; otherwise says so loudly and
# exits 0, except under CI (CI=true), where a skipped pass fails unless SERVICES_OPTIONAL=1.
# pytest-django creates (and drops) test_<SERVICES_DB>_gwN databases itself; the Redis database
# SERVICES_REDIS_DB is only used for this run's task queues.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PY:-.venv/bin/python}"
PG_HOST="${PG_HOST:-127.0.0.1}" PG_PORT="${PG_PORT:-5432}" PG_USER="${PG_USER:-postgres}"
REDIS_HOST="${REDIS_HOST:-127.0.0.1}" REDIS_PORT="${REDIS_PORT:-6379}"
SERVICES_DB="${SERVICES_DB:-trakt_backup}"
SERVICES_REDIS_DB="${SERVICES_REDIS_DB:-13}"

# "answers": PostgreSQL accepts a connection, Redis replies +PONG to PING.
unreachable="$("$PY" - "$PG_HOST" "$PG_PORT" "$REDIS_HOST" "$REDIS_PORT" <<'PYEOF'
import socket, sys

pg_host, pg_port, redis_host, redis_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
try:
    socket.create_connection((pg_host, pg_port), timeout=2).close()
except OSError as exc:
    print(f"PostgreSQL does not answer on {pg_host}:{pg_port} ({exc.strerror or exc})")
    sys.exit()
try:
    with socket.create_connection((redis_host, redis_port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        reply = sock.recv(64)
except OSError as exc:
    print(f"Redis does not answer on {redis_host}:{redis_port} ({exc.strerror or exc})")
    sys.exit()
if not reply.startswith(b"+PONG"):
    print(f"Redis on {redis_host}:{redis_port} answered {reply[:40]!r} to PING (a password? not supported here)")
PYEOF
)"
if [ -n "$unreachable" ]; then
    banner="$(printf '=%.0s' {1..100})"
    {
        echo "$banner"
        echo "SERVICES PASS SKIPPED: $unreachable."
        echo "Only the first pass (SQLite, database queue, local archives) ran; PostgreSQL, Redis and S3 were not tested."
        echo "$banner"
    } >&2
    if [ "${CI:-}" = "true" ] && [ "${SERVICES_OPTIONAL:-}" != "1" ]; then
        echo "Under CI a skipped services pass fails the run; set SERVICES_OPTIONAL=1 to allow it." >&2
        exit 1
    fi
    exit 0
fi

workdir="$(mktemp -d "${TMPDIR:-/tmp}/trakt-backup-services.XXXXXX")"
moto_pid=""
cleanup() {
    if [ -n "$moto_pid" ]; then
        kill "$moto_pid" 2>/dev/null || true
        wait "$moto_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # through the EXIT trap: never leave moto running

s3_port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$PY" -m moto.server -H 127.0.0.1 -p "$s3_port" >"$workdir/moto.log" 2>&1 &
moto_pid=$!

export ARCHIVE_STORAGE=s3
export S3_ENDPOINT_URL="http://127.0.0.1:$s3_port"
export S3_BUCKET=trakt-backup-tests S3_REGION=us-east-1 S3_ADDRESSING_STYLE=path
export S3_ACCESS_KEY_ID=services-pass S3_SECRET_ACCESS_KEY=services-pass-secret
export AWS_EC2_METADATA_DISABLED=true

# Wait for moto (a few seconds at most), then create the bucket.
if ! "$PY" - <<'PYEOF'
import os, sys, time

import boto3
from botocore.exceptions import EndpointConnectionError

s3 = boto3.client(
    "s3", endpoint_url=os.environ["S3_ENDPOINT_URL"], region_name=os.environ["S3_REGION"],
    aws_access_key_id=os.environ["S3_ACCESS_KEY_ID"], aws_secret_access_key=os.environ["S3_SECRET_ACCESS_KEY"],
)
deadline = time.monotonic() + 30
while True:
    try:
        s3.create_bucket(Bucket=os.environ["S3_BUCKET"])
        break
    except EndpointConnectionError:
        if time.monotonic() > deadline:
            sys.exit("moto's S3 server did not start within 30 seconds")
        time.sleep(0.2)
PYEOF
then
    echo "services pass: the S3 server could not be started; its log:" >&2
    cat "$workdir/moto.log" >&2
    exit 1
fi

export DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$SERVICES_DB"
export REDIS_URL="redis://$REDIS_HOST:$REDIS_PORT/$SERVICES_REDIS_DB"
# Keys from the environment, as a deployment with Docker secrets has them (each run its own).
SECRET_KEY="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(50))')"
ENCRYPTION_KEY="$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
export SECRET_KEY ENCRYPTION_KEY

echo "services pass: PostgreSQL $PG_HOST:$PG_PORT, Redis db $SERVICES_REDIS_DB, S3 (moto) on 127.0.0.1:$s3_port"
status=0
# shellcheck disable=SC2086 # SERVICES_PYTEST_ARGS is a list of arguments
# Modules marked backend_neutral (the emulator's own tests, the client against trakt's faults, the demo in its own
# folder) ran on the first pass and would run the same here.
"$PY" -m pytest -n "${TEST_WORKERS:-3}" -p no:cacheprovider -m "not backend_neutral" ${SERVICES_PYTEST_ARGS:-} \
    || status=$?
exit "$status"
