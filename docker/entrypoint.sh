#!/bin/sh
# Every start of the image (web or worker): prepare the data folder and the database, then run the command.
# `manage.py bootstrap` generates the keys into DATA_DIR when they are missing and migrates under a lock
# (a file lock in DATA_DIR, plus an advisory lock on PostgreSQL), so containers starting together never race.
set -eu
cd "$(dirname "$0")/.."

data_dir="${DATA_DIR:-data}"
if [ -e "$data_dir" ] && [ ! -w "$data_dir" ]; then
    echo "The data folder $data_dir is not writable by user $(id -u): give it to that user" \
         "(for a host folder: chown -R $(id -u):$(id -g) FOLDER)." >&2
    exit 1
fi

python manage.py bootstrap --verbosity 0
exec "$@"
