#!/usr/bin/env bash
# Runs the whole conformance suite against a throw-away FoundationDB cluster: one fdbserver
# process on 127.0.0.1, a fresh cluster file and data directory in a temporary directory,
# `configure new single memory`, then
#   cargo test -p coditect-conformance --features fdb --test fdb [extra cargo test arguments]
# and the server is stopped and its directory removed, whatever the outcome.
#
# Needs FoundationDB 7.3 (or later) installed: the foundationdb-clients package (libfdb_c,
# fdbcli) and the foundationdb-server package (fdbserver); see the README, "Running on
# FoundationDB". The packaged service need not run: this script starts its own server.
#
# Environment: FDB_LOCAL_PORT (default: a random port in 20000-29999), FDBSERVER, FDBCLI (the
# binaries, when not on PATH or in /usr/sbin), KEEP_FDB_DIR=1 to keep the directory (logs).
# For an unpackaged install (libfdb_c.so not in the linker cache), FDB_CLIENT_LIB_PATH names
# the directory holding libfdb_c.so: it is added to LIBRARY_PATH (to link the test binary)
# and LD_LIBRARY_PATH (to run it, and for fdbcli); an LD_LIBRARY_PATH already set is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

find_binary() { # name, override
    if [[ -n "$2" ]]; then echo "$2"; return; fi
    command -v "$1" 2>/dev/null || { [[ -x "/usr/sbin/$1" ]] && echo "/usr/sbin/$1"; } || true
}
fdbserver=$(find_binary fdbserver "${FDBSERVER:-}")
fdbcli=$(find_binary fdbcli "${FDBCLI:-}")
if [[ -z "$fdbserver" || -z "$fdbcli" ]]; then
    echo "fdb-local: fdbserver and fdbcli are needed (install foundationdb-clients and" >&2
    echo "foundationdb-server 7.3 from https://github.com/apple/foundationdb/releases)" >&2
    exit 2
fi
if [[ -n "${FDB_CLIENT_LIB_PATH:-}" ]]; then
    export LIBRARY_PATH="$FDB_CLIENT_LIB_PATH${LIBRARY_PATH:+:$LIBRARY_PATH}"
    export LD_LIBRARY_PATH="$FDB_CLIENT_LIB_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
found_lib=0
ldconfig -p 2>/dev/null | grep -q 'libfdb_c\.so' && found_lib=1
for d in ${LD_LIBRARY_PATH//:/ }; do [[ -e "$d/libfdb_c.so" ]] && found_lib=1; done
if [[ $found_lib == 0 ]]; then
    echo "fdb-local: warning: libfdb_c.so is neither in the linker cache nor in FDB_CLIENT_LIB_PATH /" >&2
    echo "LD_LIBRARY_PATH; the test binary will not link" >&2
fi

port=${FDB_LOCAL_PORT:-$((20000 + RANDOM % 10000))}
dir=$(mktemp -d "${TMPDIR:-/tmp}/coditect-fdb.XXXXXX")
mkdir -p "$dir/data" "$dir/logs"
cluster_file="$dir/fdb.cluster"
echo "coditect:$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')@127.0.0.1:$port" >"$cluster_file"

server_pid=
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid"
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ "${KEEP_FDB_DIR:-0}" == 1 ]]; then
        echo "fdb-local: kept $dir" >&2
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT

echo "fdb-local: fdbserver on 127.0.0.1:$port, cluster file $cluster_file" >&2
# -C cluster file, -p public address, -l listen address, -d data directory, -L log directory.
# Kernel AIO is off: filesystems without it (tmpfs, overlay in containers) would stop the
# server, and a throw-away cluster does not need it.
"$fdbserver" -C "$cluster_file" -p "127.0.0.1:$port" -l "127.0.0.1:$port" \
    -d "$dir/data" -L "$dir/logs" --knob_disable_posix_kernel_aio=1 \
    >"$dir/logs/fdbserver.out" 2>&1 &
server_pid=$!

# A new cluster has no database until it is configured. `configure new` waits for the server
# itself and may take longer than fdbcli's --timeout on a slow machine, which would kill it
# half-way: it runs without --timeout, bounded by `timeout` instead. A retry after a run that
# did configure answers "Database already exists", which counts as done.
configured=0
for _ in $(seq 1 10); do
    out=$(timeout 120 "$fdbcli" -C "$cluster_file" --exec "configure new single memory" 2>&1) && {
        configured=1
        break
    }
    if grep -q "already exists" <<<"$out"; then configured=1; break; fi
    kill -0 "$server_pid" 2>/dev/null || { echo "fdb-local: fdbserver exited; see $dir/logs" >&2; KEEP_FDB_DIR=1; exit 1; }
    sleep 1
done
[[ $configured == 1 ]] || { echo "fdb-local: could not configure the database: $out" >&2; KEEP_FDB_DIR=1; exit 1; }

available=0
for _ in $(seq 1 60); do
    if "$fdbcli" -C "$cluster_file" --timeout 20 --exec "status minimal" 2>/dev/null | grep -q "is available"; then
        available=1
        break
    fi
    sleep 1
done
[[ $available == 1 ]] || { echo "fdb-local: the database did not become available" >&2; KEEP_FDB_DIR=1; exit 1; }

echo "fdb-local: database available; running the conformance suite" >&2
FDB_CLUSTER_FILE="$cluster_file" cargo test -p coditect-conformance --features fdb --test fdb "$@"
