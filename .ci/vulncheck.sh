#!/usr/bin/env bash
# Known vulnerabilities, checked offline: govulncheck against a local copy of
# the Go vulnerability database. Exits non-zero when a vulnerability is
# reachable from our code (govulncheck's text mode exits 3 then).
#
# The database comes through the module proxy as the module
# golang.org/x/vulndb (its data/osv/ holds one OSV file per entry). It is
# pinned, so a CI run is reproducible and, once the caches are warm, needs no
# network at all. To move to the newest entries, run once with
# VULNDB_VERSION=latest to see which version that is, then bump the pin:
#
#   go list -m golang.org/x/vulndb@latest
#
# The v1 layout govulncheck reads (index/db.json, index/modules.json,
# ID/<id>.json) is built from data/osv by the vulndb module's own
# cmd/indexdb, once per version, and kept under $(go env GOCACHE), so a warm
# run only scans.
set -euo pipefail
cd "$(dirname "$0")/.."
# go1.26.8 has standard-library vulnerabilities fixed in go1.26.10.
export GOTOOLCHAIN=go1.26.10
export PATH="$(go env GOPATH)/bin:$PATH"

GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION="${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}"
# An empty or wrong database folder makes govulncheck report "No
# vulnerabilities found" and exit 0; the real database holds thousands of
# entries (4789 at the pinned version).
MIN_ENTRIES=3000

if ! govulncheck -version 2>/dev/null | grep -qx "Scanner: govulncheck@${GOVULNCHECK_VERSION}"; then
  echo "== go install govulncheck@${GOVULNCHECK_VERSION}"
  go install "golang.org/x/vuln/cmd/govulncheck@${GOVULNCHECK_VERSION}"
fi

# The vulndb module and indexdb are fetched and run outside our module, so
# neither go.mod nor go.sum is touched.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
outside() { (cd "$scratch" && GOWORK=off "$@"); }

if [ "$VULNDB_VERSION" = latest ]; then
  VULNDB_VERSION="$(outside go list -m -f '{{.Version}}' golang.org/x/vulndb@latest)"
  echo "vulncheck: golang.org/x/vulndb@latest is ${VULNDB_VERSION}"
fi

cache_root="$(go env GOCACHE)/headsup-vulndb"
db="${cache_root}/${VULNDB_VERSION}"

count_entries() { find "$1" -maxdepth 1 -name 'GO-*.json' 2>/dev/null | wc -l; }

if [ ! -f "${db}/index/modules.json" ]; then
  echo "== vulnerability database golang.org/x/vulndb@${VULNDB_VERSION} (building ${db})"
  src="$(outside go mod download -json "golang.org/x/vulndb@${VULNDB_VERSION}" | jq -r .Dir)"
  osv_count="$(count_entries "${src}/data/osv")"
  if [ "$osv_count" -lt "$MIN_ENTRIES" ]; then
    echo "vulncheck: ${src}/data/osv holds ${osv_count} entries, expected at least ${MIN_ENTRIES}" >&2
    exit 1
  fi
  mkdir -p "$cache_root"
  # Build beside the final place and rename, so an interrupted build never
  # leaves a half-written database that a later run would trust.
  tmp="$(mktemp -d "${cache_root}/.build.XXXXXX")"
  if ! outside go run "golang.org/x/vulndb/cmd/indexdb@${VULNDB_VERSION}" \
      -vulns "${src}/data/osv" -out "$tmp"; then
    rm -rf "$tmp"
    echo "vulncheck: indexdb failed" >&2
    exit 1
  fi
  built="$(count_entries "${tmp}/ID")"
  if [ "$built" -ne "$osv_count" ]; then
    rm -rf "$tmp"
    echo "vulncheck: indexdb wrote ${built} entries from ${osv_count} OSV files" >&2
    exit 1
  fi
  # Another run may have finished first; its copy is as good as ours.
  mv -T "$tmp" "$db" 2>/dev/null || rm -rf "$tmp"
fi

# Guard on every run, warm or cold: the cache can be truncated by hand.
entries="$(count_entries "${db}/ID")"
if [ "$entries" -lt "$MIN_ENTRIES" ] || ! grep -q '"path":"stdlib"' "${db}/index/modules.json"; then
  echo "vulncheck: ${db} holds ${entries} entries (expected at least ${MIN_ENTRIES}, stdlib included);" \
    "remove it and rerun" >&2
  exit 1
fi
echo "vulncheck: database golang.org/x/vulndb@${VULNDB_VERSION}, ${entries} entries"

echo "== go mod download"
go mod download

echo "== govulncheck (offline)"
# GOPROXY=off: after the download above the scan must need nothing from
# outside. Text mode, because -format json exits 0 even with findings.
rc=0
GOPROXY=off govulncheck -db "file://${db}" ./... || rc=$?
case "$rc" in
  0) ;;
  3)
    echo "vulncheck: a known vulnerability is reachable from our code (see above):" \
      "upgrade the module or the Go toolchain to the fixed version" >&2
    exit 1
    ;;
  *)
    echo "vulncheck: govulncheck failed with exit status ${rc}" >&2
    exit 1
    ;;
esac
