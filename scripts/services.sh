#!/bin/sh
# The real services behind `make test` and `make bench`: PostgreSQL and moto (S3).
#
#   sh scripts/services.sh start   start both (a no-op for whichever is already running)
#   sh scripts/services.sh stop    stop both and delete their data
#   sh scripts/services.sh status  say what is running
#
# `start` writes .services/env, which the Makefile sources before pytest:
#   FOREBEAR_TEST_POSTGRES     postgresql:// URL of a superuser, so tests can CREATE DATABASE
#   FOREBEAR_TEST_S3_ENDPOINT  http://127.0.0.1:PORT of moto in server mode
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION   dummies for moto
#
# Both listen on free loopback ports only. PostgreSQL is installed from Debian's packages
# when its binaries are missing (CI runs as root). It refuses to run as root, so as root
# it runs as the system user forebear-pg, created here. Its data is disposable: a server
# that is not running is re-created from scratch, and `stop` deletes it.
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)
SVC=$ROOT/.services
STATE=$SVC/state
PY=$ROOT/.venv/bin/python
[ -x "$PY" ] || PY=python3
PG_USER=forebear-pg
DB_USER=forebear
DB_NAME=forebear

log() { echo "services: $*" >&2; }
die() { log "error: $*"; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {  # PORT SECONDS: until something accepts connections on 127.0.0.1:PORT
    "$PY" - "$1" "$2" <<'EOF'
import socket, sys, time
port, deadline = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}

# -- PostgreSQL ---------------------------------------------------------------------------

find_pg_bin() {
    # PATH first (e.g. /usr/local/bin/initdb), then Debian's versioned directories, newest first.
    if command -v initdb >/dev/null 2>&1; then
        dir=$(dirname "$(readlink -f "$(command -v initdb)")")
        if [ -x "$dir/postgres" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

install_pg() {
    log "PostgreSQL binaries not found: installing Debian's postgresql packages"
    command -v apt-get >/dev/null 2>&1 ||
        die "no initdb/postgres found and no apt-get to install them; install a PostgreSQL server"
    sudo=""
    if ! is_root; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            die "PostgreSQL is missing and installing it needs root: run as root, or apt-get install postgresql"
        fi
    fi
    # The package would create and start a cluster of its own; this script runs its own.
    $sudo mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" |
        $sudo tee /etc/postgresql-common/createcluster.d/forebear.conf >/dev/null
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    $sudo env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}

as_pg() {  # run a command as the unprivileged server user
    if is_root; then
        # From /: the clone's directory may be closed to that user (paths are absolute).
        (cd / && runuser -u "$PG_USER" -- "$@")
    else
        "$@"
    fi
}

closed_as_pg() {  # as_pg, with no descriptors inherited beyond stdin, stdout and stderr
    # The server would otherwise hold the lock (fd 9) and any pipe of our caller open
    # for as long as it lives, and the next `start` would wait on the lock forever.
    if is_root; then
        set -- runuser -u "$PG_USER" -- "$@"
    fi
    "$PY" -c 'import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:], cwd="/"))' "$@"
}

ensure_pg_user() {
    is_root || return 0
    id "$PG_USER" >/dev/null 2>&1 && return 0
    command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) is needed to drop root"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        --user-group "$PG_USER"
}

pg_running() {
    [ -n "${PG_DIR:-}" ] && [ -n "${PG_BIN:-}" ] && [ -d "$PG_DIR/data" ] &&
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1
}

pg_dir() {  # where the server's files go: under .services/ unless its user cannot reach it
    dir=$SVC/pg
    rm -rf "$dir"
    mkdir -p "$dir"
    if is_root; then
        chown "$PG_USER:" "$dir"
        if ! as_pg test -w "$dir" 2>/dev/null; then
            # A parent of the clone (say /root) is closed to other users.
            rmdir "$dir"
            dir=$(mktemp -d /tmp/forebear-pg.XXXXXX)
            chown "$PG_USER:" "$dir"
            log "$SVC is not reachable by $PG_USER; PostgreSQL data goes to $dir"
        fi
    fi
    echo "$dir"
}

start_pg() {
    if pg_running; then
        return 0
    fi
    PG_BIN=$(find_pg_bin) || { install_pg; PG_BIN=$(find_pg_bin) || die "postgresql installed, but no initdb found"; }
    ensure_pg_user
    [ -n "${PG_DIR:-}" ] && [ "${PG_DIR#/tmp/forebear-pg.}" != "$PG_DIR" ] && rm -rf "$PG_DIR"
    PG_DIR=$(pg_dir)
    PG_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    PG_PORT=$(free_port)
    umask 077
    printf '%s\n' "$PG_PASSWORD" >"$PG_DIR/pwfile"
    umask 022
    is_root && chown "$PG_USER:" "$PG_DIR/pwfile"
    # --no-sync: a crash during set-up just means set-up again. The server itself keeps
    # fsync on, so durable-commit benchmarks measure what a real deployment pays.
    as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$DB_USER" --pwfile="$PG_DIR/pwfile" \
        --auth=scram-sha-256 --encoding=UTF8 --locale=C --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
        { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    rm -f "$PG_DIR/pwfile"
    as_pg sh -c "cat >>'$PG_DIR/data/postgresql.conf'" <<EOF

# forebear test server (scripts/services.sh)
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
work_mem = 16MB
fsync = on
EOF
    closed_as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 start \
        >/dev/null || { cat "$PG_DIR/postgres.log" >&2; die "PostgreSQL did not start"; }
    PGPASSWORD=$PG_PASSWORD "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" \
        "$DB_NAME"
    log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
}

stop_pg() {
    if pg_running; then
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
        log "PostgreSQL stopped"
    fi
    if [ -n "${PG_DIR:-}" ]; then
        rm -rf "$PG_DIR"
    fi
}

# -- moto (S3) ----------------------------------------------------------------------------

moto_running() {
    [ -n "${MOTO_PID:-}" ] && kill -0 "$MOTO_PID" 2>/dev/null &&
        grep -q moto "/proc/$MOTO_PID/cmdline" 2>/dev/null
}

start_moto() {
    if moto_running; then
        return 0
    fi
    MOTO_PORT=$(free_port)
    if [ -x "$ROOT/.venv/bin/moto_server" ]; then
        set -- "$ROOT/.venv/bin/moto_server"
    else
        set -- "$PY" -m moto.server
    fi
    # A new session, so the server outlives `make test`'s process group until `stop`;
    # Popen closes every other descriptor (the lock, our caller's pipes).
    MOTO_PID=$("$PY" -c '
import subprocess, sys
with open(sys.argv[1], "ab") as log:
    proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
print(proc.pid)
' "$SVC/moto.log" "$@" -H 127.0.0.1 -p "$MOTO_PORT")
    wait_for_port "$MOTO_PORT" 60 || { cat "$SVC/moto.log" >&2; die "moto did not start"; }
    log "moto (S3) on 127.0.0.1:$MOTO_PORT"
}

stop_moto() {
    if moto_running; then
        kill "$MOTO_PID"
        i=0
        while kill -0 "$MOTO_PID" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -0 "$MOTO_PID" 2>/dev/null && kill -9 "$MOTO_PID"
        log "moto stopped"
    fi
}

# -- state and env ------------------------------------------------------------------------

load_state() {
    PG_BIN="" PG_DIR="" PG_PORT="" PG_PASSWORD="" MOTO_PORT="" MOTO_PID=""
    if [ -f "$STATE" ]; then
        . "$STATE"
    fi
}

write_file() {  # write stdin to $1 atomically: tests may be sourcing it right now
    cat >"$1.tmp.$$"
    mv -f "$1.tmp.$$" "$1"
}

save_state() {
    umask 077  # both files hold the test server's password
    write_file "$STATE" <<EOF
PG_BIN='$PG_BIN'
PG_DIR='$PG_DIR'
PG_PORT='$PG_PORT'
PG_PASSWORD='$PG_PASSWORD'
MOTO_PORT='$MOTO_PORT'
MOTO_PID='$MOTO_PID'
EOF
    write_file "$SVC/env" <<EOF
# Written by scripts/services.sh; source it: . ./.services/env
export FOREBEAR_TEST_POSTGRES='postgresql://$DB_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$DB_NAME'
export FOREBEAR_TEST_S3_ENDPOINT='http://127.0.0.1:$MOTO_PORT'
export AWS_ACCESS_KEY_ID='testing'
export AWS_SECRET_ACCESS_KEY='testing'
export AWS_DEFAULT_REGION='us-east-1'
EOF
    umask 022
}

main() {
    mkdir -p "$SVC"
    # One caller at a time: several engineers (or make targets) may start services at once.
    exec 9>"$SVC/.lock"
    flock 9
    load_state
    case "${1:-}" in
    start)
        start_pg
        start_moto
        save_state
        ;;
    stop)
        stop_moto
        stop_pg
        rm -f "$STATE" "$SVC/env" "$SVC/moto.log"
        rm -rf "$SVC/pg"
        ;;
    status)
        if pg_running; then echo "postgresql: running on 127.0.0.1:$PG_PORT"; else echo "postgresql: stopped"; fi
        if moto_running; then echo "moto: running on 127.0.0.1:$MOTO_PORT"; else echo "moto: stopped"; fi
        ;;
    *)
        echo "usage: sh scripts/services.sh start|stop|status" >&2
        exit 2
        ;;
    esac
}

main "$@"
