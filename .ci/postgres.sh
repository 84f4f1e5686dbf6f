# shellcheck shell=bash
# Source this file (never execute it) to get a throwaway PostgreSQL server
# for the tests:
#
#   source .ci/postgres.sh && go test ./internal/customers/...
#
# It exports HEADSUP_TEST_POSTGRES_URL for a fresh database on a server that
# listens only on 127.0.0.1 (a free port) and on a Unix socket in its own
# temporary directory, and stops the server and removes that directory when
# the sourcing shell exits (an EXIT trap: a script that sources this file
# and sets its own EXIT trap must call headsup_pg_stop from it).
#
# When HEADSUP_TEST_POSTGRES_URL is already set (a CI service container, a
# developer's own server), it does nothing. When no PostgreSQL is installed
# it installs Debian's `postgresql` package (as root). initdb refuses to run
# as root, so as root the server runs as the `postgres` user (created when
# missing) through runuser.
#
# Errors are reported and `return` (never `exit`), so sourcing it from an
# interactive shell cannot close that shell.

headsup_pg_main() {
  if [ -n "${HEADSUP_TEST_POSTGRES_URL:-}" ]; then
    echo "postgres.sh: using HEADSUP_TEST_POSTGRES_URL from the environment" >&2
    return 0
  fi

  # Find initdb and pg_ctl: on PATH, else Debian's versioned directory
  # (the package puts no wrappers for them on PATH).
  local bindir="" d
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    bindir="$(dirname "$(command -v pg_ctl)")"
  else
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
      if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir="$d"; break; fi
    done
  fi
  if [ -z "$bindir" ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "postgres.sh: no PostgreSQL found; install it (apt-get install postgresql) or run as root" >&2
      return 1
    fi
    echo "postgres.sh: installing PostgreSQL (apt-get install postgresql)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 || return 1
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
      if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir="$d"; break; fi
    done
    if [ -z "$bindir" ]; then
      echo "postgres.sh: PostgreSQL installed but initdb/pg_ctl not found under /usr/lib/postgresql" >&2
      return 1
    fi
  fi
  local psql="$bindir/psql"
  [ -x "$psql" ] || psql="$(command -v psql)" || {
    echo "postgres.sh: psql not found" >&2
    return 1
  }

  # As root, run the server as `postgres`; otherwise as whoever we are.
  local -a as=()
  if [ "$(id -u)" = 0 ]; then
    if ! id -u postgres >/dev/null 2>&1; then
      useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin postgres || return 1
    fi
    as=(runuser -u postgres --)
  fi

  local dir
  dir="$(mktemp -d "${TMPDIR:-/tmp}/headsup-pg.XXXXXX")" || return 1
  HEADSUP_PG_DIR="$dir"
  HEADSUP_PG_CTL="$bindir/pg_ctl"
  HEADSUP_PG_AS="${as[*]}"
  trap headsup_pg_stop EXIT
  [ "${#as[@]}" = 0 ] || chown postgres: "$dir" || return 1
  chmod 700 "$dir"

  # A random password for TCP: other local users cannot connect to the
  # test server. The Unix socket (in the private directory) trusts.
  local password
  password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  (umask 077 && printf '%s\n' "$password" >"$dir/pwfile")
  [ "${#as[@]}" = 0 ] || chown postgres: "$dir/pwfile"
  "${as[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync \
    >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    return 1
  }
  rm -f "$dir/pwfile"

  # A free port: probe with bash's /dev/tcp (refused means free), and
  # retry the start if another process takes it first.
  local port="" try
  for try in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 40000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
    # fsync off: a throwaway server; durability would only slow the tests.
    if "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -s \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c max_connections=200" \
      start; then
      break
    fi
    port=""
  done
  if [ -z "$port" ]; then
    echo "postgres.sh: PostgreSQL did not start; its log:" >&2
    cat "$dir/server.log" >&2
    return 1
  fi

  "${as[@]}" "$psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres \
    -c "CREATE DATABASE headsup_test" || return 1

  export HEADSUP_TEST_POSTGRES_URL="postgres://postgres:${password}@127.0.0.1:${port}/headsup_test?sslmode=disable"
  echo "postgres.sh: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)" >&2
}

# headsup_pg_stop stops the server and removes its directory; the EXIT trap
# calls it, and it is safe to call twice.
headsup_pg_stop() {
  if [ -n "${HEADSUP_PG_DIR:-}" ] && [ -d "$HEADSUP_PG_DIR" ]; then
    # shellcheck disable=SC2086 # HEADSUP_PG_AS is a word list on purpose
    if [ -f "$HEADSUP_PG_DIR/data/postmaster.pid" ]; then
      $HEADSUP_PG_AS "$HEADSUP_PG_CTL" -D "$HEADSUP_PG_DIR/data" -m immediate -s stop >/dev/null 2>&1 || true
    fi
    rm -rf "$HEADSUP_PG_DIR"
  fi
  HEADSUP_PG_DIR=""
}

headsup_pg_main
