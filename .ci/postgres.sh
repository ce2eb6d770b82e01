# A private PostgreSQL server on loopback for the shared-study tests (issue #30).
# Sourced by .ci/run; by hand:  source .ci/postgres.sh && start_postgres && pytest -m slow ...
#
# start_postgres installs Debian's postgresql where it is missing (root + apt-get only), makes a
# throw-away cluster in a temp folder (as the `postgres` user when run as root: initdb refuses
# root), starts it on 127.0.0.1 at a free port and exports MMAR_HYDRA_TEST_POSTGRES_URL.
# Anything that fails only prints why and returns 0: the PostgreSQL tests then skip and say so.
# stop_postgres stops the server and removes the folder.

_pg_bindir() {
    local ctl
    ctl=$(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1)
    [ -n "$ctl" ] && dirname "$ctl"
}

_pg_as() {  # run as the cluster's owner
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
    local bindir port
    bindir=$(_pg_bindir || true)
    if [ -z "$bindir" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "postgres: installing Debian's postgresql"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 \
            || echo "postgres: apt-get install postgresql failed"
        bindir=$(_pg_bindir || true)
    fi
    if [ -z "$bindir" ]; then
        echo "postgres: no PostgreSQL server binaries; the PostgreSQL tests will skip"
        return 0
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home postgres || { echo "postgres: no postgres user"; return 0; }
    fi
    MMAR_HYDRA_PG_DIR=$(mktemp -d /tmp/mmar_hydra_pg.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres "$MMAR_HYDRA_PG_DIR"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if ! _pg_as "$bindir/initdb" -D "$MMAR_HYDRA_PG_DIR/data" -U mmar --auth=trust -E UTF8 \
            >"$MMAR_HYDRA_PG_DIR/initdb.log" 2>&1; then
        echo "postgres: initdb failed ($(tail -n 1 "$MMAR_HYDRA_PG_DIR/initdb.log")); tests will skip"
        return 0
    fi
    if ! _pg_as "$bindir/pg_ctl" -D "$MMAR_HYDRA_PG_DIR/data" -l "$MMAR_HYDRA_PG_DIR/server.log" -w \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $MMAR_HYDRA_PG_DIR -c max_connections=100" \
            start >/dev/null 2>&1; then
        echo "postgres: the server did not start ($(tail -n 1 "$MMAR_HYDRA_PG_DIR/server.log")); tests will skip"
        return 0
    fi
    _pg_as "$bindir/createdb" -h 127.0.0.1 -p "$port" -U mmar mmar_hydra_test || return 0
    export MMAR_HYDRA_TEST_POSTGRES_URL="postgresql://mmar@127.0.0.1:$port/mmar_hydra_test"
    echo "postgres: $MMAR_HYDRA_TEST_POSTGRES_URL (cluster in $MMAR_HYDRA_PG_DIR)"
}

stop_postgres() {
    local bindir
    [ -n "${MMAR_HYDRA_PG_DIR:-}" ] && [ -d "$MMAR_HYDRA_PG_DIR/data" ] || return 0
    bindir=$(_pg_bindir || true)
    [ -n "$bindir" ] && _pg_as "$bindir/pg_ctl" -D "$MMAR_HYDRA_PG_DIR/data" -m fast -w stop >/dev/null 2>&1
    rm -rf "$MMAR_HYDRA_PG_DIR"
    unset MMAR_HYDRA_PG_DIR MMAR_HYDRA_TEST_POSTGRES_URL
}
