#!/usr/bin/env bash
# A throwaway PostgreSQL server for the fleet store's tests and benchmarks, on a free
# loopback port, in a temporary directory, run by an unprivileged user. It touches no
# other database: nothing is read from or written to any existing cluster.
#
#   eval "$(bash scripts/postgres.sh start)"   # exports HESO_TEST_PG_URL, HESO_PG_STATE,
#                                               # HESO_TEST_PG_CA, HESO_TEST_PG_OTHER_CA,
#                                               # HESO_TEST_PG_CLIENT_CERT/_KEY
#   bash scripts/postgres.sh halt               # stop the server, keep its data and port
#   bash scripts/postgres.sh resume             # start it again (same data, same port)
#   bash scripts/postgres.sh stop               # stop it and delete everything
#
# Installs Debian's `postgresql` package when no server binaries are found. The server
# runs with fsync off (a test server: its data is thrown away), trust authentication on
# 127.0.0.1 only, and `postgres` as its superuser. It also accepts TLS (ssl = on) with a
# server certificate for the name `localhost` (not for 127.0.0.1: the tests check that
# verify-full compares names) signed by a CA made for it (HESO_TEST_PG_CA), and makes a
# second, unrelated CA (HESO_TEST_PG_OTHER_CA) for the tests of a wrong CA. Clients that
# do not ask for TLS connect without it, as before. The role heso_cert (a superuser of this
# throwaway server) logs in only with the client certificate HESO_TEST_PG_CLIENT_CERT/_KEY.
set -euo pipefail

PG_USER=heso-pg

log() { printf '%s\n' "$*" >&2; }

bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [[ -z "$dir" || ! -x "$dir/initdb" ]]; then
    log "postgres.sh: installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  printf '%s\n' "$dir"
}

# Runs a command as the server's user (root may not run PostgreSQL).
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "$PG_USER" -- "$@"
  else
    "$@"
  fi
}

# A CA, a server certificate it signs (P-256, for DNS:localhost), and an unrelated CA.
make_certs() {
  local tls=$1
  command -v openssl >/dev/null 2>&1 || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq openssl >&2
  }
  mkdir -p "$tls"
  local ca
  for ca in ca other-ca; do
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 2 \
      -subj "/CN=heso test $ca" -keyout "$tls/$ca.key" -out "$tls/$ca.crt" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      >/dev/null 2>&1
  done
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=localhost" \
    -keyout "$tls/server.key" -out "$tls/server.csr" >/dev/null 2>&1
  printf '%s\n' 'subjectAltName=DNS:localhost' 'extendedKeyUsage=serverAuth' \
    'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature' >"$tls/server.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 2 -extfile "$tls/server.ext" -out "$tls/server.crt" >/dev/null 2>&1
  # A client certificate for the role heso_cert, which may log in only with it.
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=heso_cert" \
    -keyout "$tls/client.key" -out "$tls/client.csr" >/dev/null 2>&1
  printf '%s\n' 'extendedKeyUsage=clientAuth' 'basicConstraints=critical,CA:FALSE' \
    'keyUsage=critical,digitalSignature' >"$tls/client.ext"
  openssl x509 -req -in "$tls/client.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 2 -extfile "$tls/client.ext" -out "$tls/client.crt" >/dev/null 2>&1
  chmod 0600 "$tls/server.key" "$tls/client.key"
  [[ $(id -u) -eq 0 ]] && chown "$PG_USER" "$tls/server.key" "$tls/server.crt"
  return 0
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

state() {
  : "${HESO_PG_STATE:?HESO_PG_STATE is not set: run eval \"\$(bash scripts/postgres.sh start)\" first}"
  # shellcheck source=/dev/null
  source "$HESO_PG_STATE/env"
}

start() {
  local bin dir port
  bin=$(bin_dir)
  if [[ $(id -u) -eq 0 ]] && ! id "$PG_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
  fi
  dir=$(mktemp -d /tmp/heso-pg.XXXXXX)
  chmod 0755 "$dir"
  mkdir "$dir/data" "$dir/socket"
  [[ $(id -u) -eq 0 ]] && chown -R "$PG_USER" "$dir/data" "$dir/socket"
  as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  make_certs "$dir/tls"
  port=$(free_port)
  cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/socket'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
shared_buffers = 256MB
max_wal_size = 2GB
log_min_messages = warning
ssl = on
ssl_cert_file = '$dir/tls/server.crt'
ssl_key_file = '$dir/tls/server.key'
ssl_ca_file = '$dir/tls/ca.crt'
EOF
  # heso_cert logs in by client certificate only (over TLS); everyone else as initdb set.
  { printf 'hostssl all heso_cert 127.0.0.1/32 cert\nhost all heso_cert 127.0.0.1/32 reject\n'
    cat "$dir/data/pg_hba.conf"; } >"$dir/pg_hba.conf.new"
  mv "$dir/pg_hba.conf.new" "$dir/data/pg_hba.conf"
  [[ $(id -u) -eq 0 ]] && chown "$PG_USER" "$dir/data/pg_hba.conf"
  cat >"$dir/env" <<EOF
PG_BIN=$bin
PG_DIR=$dir
PG_PORT=$port
EOF
  HESO_PG_STATE=$dir resume
  as_pg "$bin/psql" -h "$dir/socket" -p "$port" -U postgres -d postgres -qAtc \
    'CREATE ROLE heso_cert LOGIN SUPERUSER' >/dev/null
  printf 'export HESO_PG_STATE=%q\n' "$dir"
  printf 'export HESO_TEST_PG_URL=%q\n' "postgresql://postgres@127.0.0.1:$port/postgres"
  printf 'export HESO_TEST_PG_CA=%q\n' "$dir/tls/ca.crt"
  printf 'export HESO_TEST_PG_OTHER_CA=%q\n' "$dir/tls/other-ca.crt"
  printf 'export HESO_TEST_PG_CLIENT_CERT=%q\n' "$dir/tls/client.crt"
  printf 'export HESO_TEST_PG_CLIENT_KEY=%q\n' "$dir/tls/client.key"
}

resume() {
  state
  touch "$PG_DIR/server.log"
  [[ $(id -u) -eq 0 ]] && chown "$PG_USER" "$PG_DIR/server.log"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start >/dev/null ||
    { cat "$PG_DIR/server.log" >&2; exit 1; }
}

halt() {
  state
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null
}

stop() {
  if [[ -z "${HESO_PG_STATE:-}" || ! -f "$HESO_PG_STATE/env" ]]; then
    return 0
  fi
  state
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}

case "${1:-}" in
  start) start ;;
  resume) resume ;;
  halt) halt ;;
  stop) stop ;;
  *) log "usage: $0 start|halt|resume|stop"; exit 2 ;;
esac
