#!/usr/bin/env bash
# The Docker image, built and started for real, without a Docker engine (none runs on the CI machines).
#
#   1. A stand-in for python:3.11-slim: Debian bookworm (debootstrap, minbase) with Debian's Python 3.11,
#      imported with buildah as localhost/python:3.11-slim. Cached in $IMAGE_TEST_CACHE, rebuilt when the
#      recipe below changes or the cache is older than a week (Debian's security updates).
#   2. The repository's Dockerfile as it is: `buildah bud --isolation chroot`, PyPI reached as the host
#      reaches it. Layers are cached, so an unchanged requirements.txt downloads nothing the second time.
#   3. The image's filesystem (buildah mount) run under `chroot --userspec` with the image's ENV, USER,
#      ENTRYPOINT and CMD, a fresh /data, and the host's network (loopback only): the web server (CMD) and the
#      worker (`python manage.py qcluster`), both through the entrypoint, as the compose file runs them.
#   4. Checks: /health answers 200, a first visit lands on the first-run page (with its stylesheet), the
#      image's HEALTHCHECK command exits 0, the WORKER takes a backup queued like the dashboard's
#      "Back up now" against the trakt emulator and its archive lands in /data, and neither process logs an
#      ERROR or a traceback.
#
# Needs root (buildah, chroot, mounts) and Debian's buildah and debootstrap, which it installs when missing.
# Otherwise it says so loudly and exits 0, except under CI (CI=true), where a skipped image test fails the
# run unless IMAGE_TEST_OPTIONAL=1. IMAGE_TEST_KEEP=1 keeps the run's folder (logs, /data) for a look.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PY:-.venv/bin/python}"
CACHE_DIR="${IMAGE_TEST_CACHE:-/var/cache/trakt-backup-image-test}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BASE_IMAGE=localhost/python:3.11-slim      # what `FROM python:3.11-slim` finds locally
IMAGE=localhost/trakt-backup:image-test
BASE_MAX_AGE_DAYS=7
# The stand-in's recipe: a change here (or in the post-processing of build_base) rebuilds the cached base.
BASE_SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,python3-pip,ca-certificates
BASE_RECIPE_VERSION=2

banner="$(printf '=%.0s' {1..100})"
started=$EPOCHREALTIME
timings=()

skip() {
    {
        echo "$banner"
        echo "IMAGE TEST SKIPPED: $1"
        echo "The Docker image was neither built nor started: the Dockerfile, the entrypoint and the"
        echo "image's first run are untested by this run."
        echo "$banner"
    } >&2
    if [ "${CI:-}" = "true" ] && [ "${IMAGE_TEST_OPTIONAL:-}" != "1" ]; then
        echo "Under CI a skipped image test fails the run; set IMAGE_TEST_OPTIONAL=1 to allow it." >&2
        exit 1
    fi
    exit 0
}

say() { echo "image test: $*"; }
fail() { echo "image test FAILED: $*" >&2; exit 1; }

# Seconds since $1 (an $EPOCHREALTIME), one decimal.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
phase_start() { phase_name="$1"; phase_t0=$EPOCHREALTIME; say "$1…"; }
phase_end() { timings+=("$(printf '%-40s %6s s' "$phase_name" "$(since "$phase_t0")")"); phase_name=""; }
print_timings() {
    [ "${#timings[@]}" = 0 ] || printf '  %s\n' "${timings[@]}"
    printf '  %-40s %6s s\n' "total" "$(since "$started")"
}

# -- root and the tools --------------------------------------------------------------------------------

[ "$(id -u)" = 0 ] || skip "not root (buildah, chroot and mounts need root; run it with sudo)."
[ -x "$PY" ] || fail "$PY is missing: run make dev-deps first (the trakt emulator runs from it)."

phase_start "tools (buildah, debootstrap)"
if ! command -v buildah >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    apt_log="$(mktemp)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap; } \
            >"$apt_log" 2>&1; then
        tail -n 5 "$apt_log" >&2
        rm -f "$apt_log"
        skip "Debian's buildah and debootstrap could not be installed (apt-get failed, see above)."
    fi
    rm -f "$apt_log"
fi
phase_end

# All of this script's images and containers live in a store of its own, beside the cached base.
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.lock"
flock -w 900 9 || fail "another image test holds $CACHE_DIR/.lock"
STORE=(--root "$CACHE_DIR/storage" --runroot /run/trakt-backup-image-test)
bah() { buildah "${STORE[@]}" "$@"; }

# -- cleanup: processes, mounts, containers, the run's folder; on any exit --------------------------------

workdir="$(mktemp -d "${TMPDIR:-/tmp}/trakt-backup-image.XXXXXX")"
chmod 755 "$workdir"
web_pid="" worker_pid="" emulator_pid="" run_ctr="" base_ctr="" mnt=""

# stop_group PID: SIGTERM to PID alone, as `docker stop` sends it to the container's first process; after
# 30 s, or once PID has gone, SIGKILL to what is left of its process group (each started with setsid).
# Sets stop_seconds and stop_status (PID's exit status).
stop_group() {
    local pid="$1" t0=$EPOCHREALTIME
    stop_status=0
    if kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || stop_status=$?
    stop_seconds="$(since "$t0")"
}

unmount_under() {  # every mount below the folder $1 (not $1 itself), deepest first
    local prefix="$1" target
    awk -v p="$prefix" 'index($2, p "/") == 1 { print $2 }' /proc/self/mounts | sort -r |
        while read -r target; do
            umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true
        done
}

cleanup() {
    local status=$?
    set +e
    [ -n "$web_pid" ] && stop_group "$web_pid"
    [ -n "$worker_pid" ] && stop_group "$worker_pid"
    [ -n "$emulator_pid" ] && stop_group "$emulator_pid"
    if [ "$status" != 0 ] && [ "$status" != 130 ]; then  # a failure, not an interruption: the logs
        for log in "$workdir"/*.log "$workdir"/data/trakt-backup.log; do
            [ -s "$log" ] || continue
            echo "---- last lines of $log" >&2
            tail -n 30 "$log" >&2
        done
    fi
    if [ "$status" != 0 ]; then
        [ -n "${phase_name:-}" ] && echo "image test: stopped during: $phase_name" >&2
        print_timings >&2
    fi
    [ -n "$mnt" ] && unmount_under "$mnt"
    unmount_under "$CACHE_DIR/rootfs.tmp"  # an interrupted debootstrap leaves /proc and /sys mounted there
    [ -n "$run_ctr" ] && { bah umount "$run_ctr" >/dev/null; bah rm "$run_ctr" >/dev/null; }
    [ -n "$base_ctr" ] && bah rm "$base_ctr" >/dev/null
    if [ "${IMAGE_TEST_KEEP:-}" = 1 ]; then
        echo "image test: kept $workdir" >&2
    else
        rm -rf "$workdir"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # through the EXIT trap

# A run killed outright (SIGKILL, a lost machine) leaves its container behind: take it down first.
for stale in $(bah containers -q --filter name=trakt-backup-image-test- 2>/dev/null); do
    unmount_under "$(bah mount "$stale" 2>/dev/null || echo /nonexistent)"
    bah umount "$stale" >/dev/null 2>&1 || true
    bah rm "$stale" >/dev/null 2>&1 || true
done

# -- the stand-in for python:3.11-slim -----------------------------------------------------------------

base_key="$(printf '%s\n' "$BASE_SUITE" minbase "$BASE_PACKAGES" "$BASE_RECIPE_VERSION" "$DEBIAN_MIRROR" |
            sha256sum | cut -c1-16)"
base_tar="$CACHE_DIR/base-$base_key.tar"

build_base() {
    local rootfs="$CACHE_DIR/rootfs.tmp"
    unmount_under "$rootfs"  # never rm -rf through a /proc or /dev that a killed debootstrap left mounted
    rm -rf "$rootfs" "$CACHE_DIR"/base-*.tar "$CACHE_DIR"/base-*.tar.tmp
    if ! debootstrap --variant=minbase --include="$BASE_PACKAGES" "$BASE_SUITE" "$rootfs" "$DEBIAN_MIRROR" \
            >"$workdir/debootstrap.log" 2>&1; then
        fail "debootstrap failed; its log: $(tail -n 5 "$workdir/debootstrap.log")"
    fi
    # What the official image has that Debian's Python lacks: `python` and `pip` on PATH, and pip allowed
    # to install into the system (the official image's Python is no distribution's, so it has no PEP 668
    # marker).
    rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
    ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
    ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
    # Slim: no package lists, caches, manuals or translations.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
    tar --numeric-owner -C "$rootfs" -cf "$base_tar.tmp" .
    mv "$base_tar.tmp" "$base_tar"
    rm -rf "$rootfs"
}

phase_start "base image $BASE_IMAGE"
if [ -f "$base_tar" ] && [ -z "$(find "$base_tar" -mtime +"$BASE_MAX_AGE_DAYS")" ]; then
    base_state="cached"
else
    base_state="built with debootstrap"
    build_base
fi
# The store holds the imported base while it matches the tarball; import it again otherwise.
stored_key="$(bah inspect --type image --format '{{index .OCIv1.Config.Labels "image-test.base-key"}}' \
              "$BASE_IMAGE" 2>/dev/null || true)"
stored_tar_mtime="$(bah inspect --type image --format '{{index .OCIv1.Config.Labels "image-test.base-mtime"}}' \
                    "$BASE_IMAGE" 2>/dev/null || true)"
if [ "$stored_key" != "$base_key" ] || [ "$stored_tar_mtime" != "$(stat -c %Y "$base_tar")" ]; then
    base_state="$base_state, imported"
    base_ctr="$(bah from --name "trakt-backup-image-test-base-$$" scratch)"
    bah add "$base_ctr" "$base_tar" / >/dev/null  # a local tar archive is unpacked
    bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
        --cmd python3 --label "image-test.base-key=$base_key" \
        --label "image-test.base-mtime=$(stat -c %Y "$base_tar")" "$base_ctr"
    bah commit --quiet --rm "$base_ctr" "$BASE_IMAGE" >/dev/null
    base_ctr=""
fi
phase_end
say "base: $base_state ($(du -h "$base_tar" | cut -f1) tarball)"

# -- the Dockerfile, as it is --------------------------------------------------------------------------

phase_start "build the Dockerfile"
# The build's RUN steps get the host's CA bundle: where the host reaches PyPI through a TLS-inspecting proxy,
# its certificate is only there. It is mounted for the build, never stored in the image.
# --format docker: an OCI image has no HEALTHCHECK, and the image's one is checked below.
host_ca=/etc/ssl/certs/ca-certificates.crt
build_volumes=()
[ -f "$host_ca" ] && build_volumes=(--volume "$host_ca:$host_ca:ro")
if ! bah bud --isolation chroot --layers --pull=never --format docker --quiet "${build_volumes[@]}" \
        --file Dockerfile --tag "$IMAGE" . >"$workdir/build.log" 2>&1; then
    fail "the Dockerfile did not build; its log: $(tail -n 15 "$workdir/build.log")"
fi
# The previous run's image (and its layers no other image uses) is no longer needed.
bah rmi --prune >/dev/null 2>&1 || true
phase_end

# What `docker run` would take from the image.
image_field() { bah inspect --type image --format "$1" "$IMAGE"; }
mapfile -t image_env < <(image_field '{{range .Docker.Config.Env}}{{println .}}{{end}}')
mapfile -t entrypoint < <(image_field '{{range .Docker.Config.Entrypoint}}{{println .}}{{end}}')
mapfile -t command < <(image_field '{{range .Docker.Config.Cmd}}{{println .}}{{end}}')
mapfile -t healthcheck < <(image_field \
    '{{if .Docker.Config.Healthcheck}}{{range .Docker.Config.Healthcheck.Test}}{{println .}}{{end}}{{end}}')
image_user="$(image_field '{{.Docker.Config.User}}')"
image_workdir="$(image_field '{{.Docker.Config.WorkingDir}}')"
[ "${#entrypoint[@]}" -gt 0 ] && [ "${#command[@]}" -gt 0 ] || fail "the image has no ENTRYPOINT or CMD"
[[ "$image_user" =~ ^[0-9]+:[0-9]+$ ]] || fail "the image's USER is '$image_user', not a numeric uid:gid"
[ "${healthcheck[0]:-}" = CMD ] || fail "the image has no HEALTHCHECK CMD (got '${healthcheck[*]:-}')"
healthcheck=("${healthcheck[@]:1}")

# -- the image's filesystem, ready to run --------------------------------------------------------------

phase_start "mount the image"
run_ctr="$(bah from --pull=never --name "trakt-backup-image-test-$$" "$IMAGE")"
mnt="$(bah mount "$run_ctr")"
mount -t proc proc "$mnt/proc"
# A /dev of its own with the usual nodes (as a container runtime makes it), and /dev/shm for the
# worker's multiprocessing.
mount -t tmpfs -o mode=755,nosuid tmpfs "$mnt/dev"
for node in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
    read -r name major minor <<<"$node"
    mknod -m 666 "$mnt/dev/$name" c "$major" "$minor"
done
mkdir "$mnt/dev/shm"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$mnt/dev/shm"
ln -s /proc/self/fd "$mnt/dev/fd"
ln -s /proc/self/fd/0 "$mnt/dev/stdin"
ln -s /proc/self/fd/1 "$mnt/dev/stdout"
ln -s /proc/self/fd/2 "$mnt/dev/stderr"
# A fresh volume for /data, owned by the image's user as a new named volume is.
mkdir "$workdir/data"
chown "$image_user" "$workdir/data"
mount --bind "$workdir/data" "$mnt/data"
# Docker sets HOME from the user's passwd entry in the image.
image_home="$(awk -F: -v uid="${image_user%%:*}" '$3 == uid { print $6 }' "$mnt/etc/passwd")"
phase_end

# -- the trakt emulator, then the web server and the worker --------------------------------------------

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

phase_start "start emulator, web and worker"
setsid "$PY" -m trakt_emulator --host 127.0.0.1 --port 0 >"$workdir/emulator.log" 2>&1 &
emulator_pid=$!
for _ in $(seq 300); do
    grep -q '^READY ' "$workdir/emulator.log" && break
    kill -0 "$emulator_pid" 2>/dev/null || fail "the trakt emulator did not start"
    sleep 0.1
done
ready="$(grep -m1 '^READY ' "$workdir/emulator.log")" || fail "the trakt emulator did not get ready in 30 s"
api_url="$(sed -E 's/.* api=([^ ]+).*/\1/' <<<"$ready")"
auth_url="$(sed -E 's/.* auth=([^ ]+).*/\1/' <<<"$ready")"

port="$(free_port)"
# The container's environment: the image's ENV, HOME as Docker sets it, and what a user passes with -e.
# HOST=127.0.0.1: the chroot shares the host's network, so nothing listens beyond loopback.
in_image=(chroot --userspec="$image_user" --groups="${image_user#*:}" "$mnt"
          /usr/bin/env -i --chdir="${image_workdir:-/}" "${image_env[@]}" HOME="${image_home:-/}"
          HOSTNAME="$(hostname)" PORT="$port" HOST=127.0.0.1 TRAKT_API_URL="$api_url" TRAKT_AUTH_URL="$auth_url")

# Each in its own process group (setsid), stopped as a whole by the cleanup.
setsid "${in_image[@]}" "${entrypoint[@]}" "${command[@]}" >"$workdir/web.log" 2>&1 &
web_pid=$!
setsid "${in_image[@]}" "${entrypoint[@]}" python manage.py qcluster >"$workdir/worker.log" 2>&1 &
worker_pid=$!

url="http://127.0.0.1:$port"
for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health")" = 200 ] && break
    kill -0 "$web_pid" 2>/dev/null || fail "the web server stopped before it answered"
    sleep 0.1
done
phase_end
say "web on $url, trakt emulator on $api_url and $auth_url"

# -- the checks ----------------------------------------------------------------------------------------

phase_start "web checks"
status="$(curl -s -o /dev/null -w '%{http_code}' "$url/health")"
[ "$status" = 200 ] || fail "/health answered $status within 60 s, not 200"
# A fresh installation: every page leads to the first-run form, whose stylesheet the image serves.
read -r status location < <(curl -s -o /dev/null -w '%{http_code} %{redirect_url}\n' "$url/")
[ "$status" = 302 ] && [ "$location" = "$url/first-run/" ] ||
    fail "GET / answered $status $location, not a redirect to /first-run/"
curl -fsS -o "$workdir/first-run.html" "$url/first-run/" || fail "the first-run page did not answer 200"
grep -q "Welcome to trakt-backup" "$workdir/first-run.html" || fail "the first-run page does not welcome"
stylesheet="$(grep -oE 'href="/static/[^"]+\.css"' "$workdir/first-run.html" | head -n 1 | cut -d'"' -f2)"
[ -n "$stylesheet" ] || fail "the first-run page links no stylesheet"
read -r status size < <(curl -s -o /dev/null -w '%{http_code} %{size_download}\n' "$url$stylesheet")
[ "$status" = 200 ] && [ "$size" -gt 0 ] || fail "$stylesheet answered $status with $size bytes"
"${in_image[@]}" "${healthcheck[@]}" || fail "the image's HEALTHCHECK (${healthcheck[*]}) failed"
phase_end

phase_start "one backup by the worker"
# What a new user does: the admin account, the trakt app, one connected trakt account (an out-of-band code
# the emulator issues as trakt shows one after "Authorize").
DJANGO_SUPERUSER_PASSWORD="image-test-$$-password" "${in_image[@]}" python manage.py createsuperuser --noinput \
    --username admin --email admin@example.com >"$workdir/setup.log" 2>&1 || fail "createsuperuser failed"
"${in_image[@]}" python manage.py trakt_setup --client-id emulator-client-id \
    --client-secret emulator-client-secret >>"$workdir/setup.log" 2>&1 || fail "trakt_setup failed"
code="$(curl -fsS -X POST -d '{"username": "demo"}' "$api_url/_emulator/code" |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin)["code"])')"
"${in_image[@]}" python manage.py trakt_auth -u demo -c "$code" >>"$workdir/setup.log" 2>&1 || fail "trakt_auth failed"
# Queued as the dashboard's "Back up now" queues it, so that the worker, not this command, runs it; then
# wait for the worker to finish it.
if ! "${in_image[@]}" python manage.py shell --verbosity 0 >"$workdir/backup.out" 2>>"$workdir/setup.log" <<'PYEOF'
import time

from django_q.models import Task

from backups import storage
from backups.models import Account, Backup
from backups.services.backup_run import queue_backup


def worker_task():
    """The worker's record of the task it ran (its arguments are pickled: compared here, not in SQL)."""
    return next((t for t in Task.objects.filter(func="backups.tasks.run_queued_backup") if t.args == (backup.pk,)),
                None)


backup = queue_backup(Account.objects.get(username="demo"))
# The row is finished a moment before the worker stores the task's result: wait for both.
deadline = time.monotonic() + 120
while (backup.status in (Backup.Status.QUEUED, Backup.Status.RUNNING) or worker_task() is None) \
        and time.monotonic() < deadline:
    time.sleep(0.5)
    backup.refresh_from_db()
task = worker_task()
by_worker = task is not None and task.success
print(backup.status, backup.total_items, by_worker, storage.describe(backup.archive_key) if backup.archive_key else "-")
PYEOF
then
    fail "queuing the backup failed"
fi
read -r backup_status backup_items by_worker archive < <(tail -n 1 "$workdir/backup.out")
[ "$backup_status" = success ] || fail "the queued backup ended '$backup_status', not success"
[ "$by_worker" = True ] || fail "the backup succeeded, but not as the worker's task"
[[ "$archive" == /data/* ]] && [ -s "$workdir/data/${archive#/data/}" ] || fail "no archive at $archive in /data"
phase_end
say "backup: $backup_items items in ${archive#/data/}"

# `docker stop`: SIGTERM, and SIGKILL 10 s later. Both must be gone by then, having exited on their own.
stopped_cleanly() { [ "$stop_status" = 0 ] && awk -v s="$stop_seconds" 'BEGIN { exit !(s <= 10) }'; }
phase_start "stop web and worker (SIGTERM)"
stop_group "$web_pid"; web_pid=""
web_stop="$stop_seconds s, exit $stop_status"
stopped_cleanly || fail "on SIGTERM the web server exited $stop_status after $stop_seconds s (docker stop: 10 s)"
stop_group "$worker_pid"; worker_pid=""
worker_stop="$stop_seconds s, exit $stop_status"
stopped_cleanly || fail "on SIGTERM the worker exited $stop_status after $stop_seconds s (docker stop: 10 s)"
phase_end
say "stopped: web in $web_stop; worker in $worker_stop"

# A clean start and stop logs no error: the processes' output and the app's log file in /data.
if grep -nE 'ERROR|CRITICAL|Traceback' "$workdir/web.log" "$workdir/worker.log" "$workdir/data/trakt-backup.log" \
        2>/dev/null >"$workdir/errors.txt"; then
    cat "$workdir/errors.txt" >&2
    fail "the web server or the worker logged the errors above"
fi

# -- summary ----------------------------------------------------------------------------------------------

echo "$banner"
echo "IMAGE TEST PASSED: $IMAGE ($(bah images --format '{{.Size}}' "$IMAGE")), from the Dockerfile on $BASE_IMAGE"
echo "  base: $base_state; ran as $image_user: web (${command[0]}) and worker (qcluster) through the entrypoint"
echo "  /health 200, first-run page and its stylesheet, HEALTHCHECK exit 0, a backup by the worker"
echo "  ($backup_items items, archive in /data), both stopped by SIGTERM, no ERROR or traceback in their logs"
print_timings
echo "$banner"
