#!/usr/bin/env bash
# Every fuzz target of the project, each fuzzed for a short fixed time
# (FUZZTIME, default 5s: anything `go test -fuzztime` accepts, e.g. 30s or
# 10000x). Fails when a target finds a crasher.
#
# go test writes a crasher to <package>/testdata/fuzz/<Target>/<hash>; once
# committed, plain `go test` runs it as a regression case, so the bug cannot
# come back unnoticed. The script prints the file's path and contents (a CI
# workspace is thrown away) and the commands to reproduce and commit it.
#
# Targets are found by their signature, `func FuzzX(f *testing.F)`, in
# *_test.go files, which is instant; `go test -list` would build every test
# binary a second time. A target that the go command does not see (a build
# constraint excludes its file) fails the run rather than passing silently.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=go1.26.10

FUZZTIME="${FUZZTIME:-5s}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# "dir target" lines, sorted. The go command ignores testdata, vendor and
# directories starting with "." or "_", so the search does too.
find . \( -name testdata -o -name vendor -o -name '.?*' -o -name '_*' \) -prune \
    -o -type f -name '*_test.go' -print0 |
  xargs -0 grep -HE '^func Fuzz[A-Za-z0-9_]*\([A-Za-z_][A-Za-z0-9_]* \*testing\.F\)' |
  while IFS= read -r hit; do
    file="${hit%%:*}"
    name="${hit#*:func }"
    dir="$(dirname "$file")"
    echo "${dir} ${name%%(*}"
  done |
  sort -u >"${scratch}/targets" || true
mapfile -t targets <"${scratch}/targets"
if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi

echo "== fuzz: ${#targets[@]} targets, ${FUZZTIME} each"
start=$SECONDS
failed=()
crashers=()
for line in "${targets[@]}"; do
  dir="${line% *}"
  name="${line#* }"
  log="${scratch}/$(echo "$dir" | tr -c 'A-Za-z0-9\n' _).${name}.log"
  t0=$SECONDS
  for attempt in 1 2; do
    rc=0
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$dir" >"$log" 2>&1 || rc=$?
    # Go's fuzzing coordinator (before Go 1.27, go.dev/issue/75804) can
    # report the end of -fuzztime itself as "context deadline exceeded",
    # with no input written. A real finding always writes one: only a bare
    # deadline with nothing written is run once more.
    if [ "$rc" -ne 0 ] && [ "$attempt" -eq 1 ] && grep -q 'context deadline exceeded' "$log" \
      && ! grep -qE 'Failing input written|panic:' "$log"; then
      echo "fuzz: ${dir} ${name}: the fuzzing engine's deadline race (go.dev/issue/75804), no input written; running it again" >&2
      continue
    fi
    break
  done
  if [ "$rc" -eq 0 ] && grep -qE 'no fuzz tests to fuzz|\[no test files\]' "$log"; then
    echo "fuzz: ${dir} ${name}: the go command does not see this target (build constraint?)" >"${log}.why"
    rc=1
  fi
  if [ "$rc" -eq 0 ]; then
    printf 'ok    %-28s %-24s %3ds\n' "$dir" "$name" "$((SECONDS - t0))"
    continue
  fi
  printf 'FAIL  %-28s %-24s %3ds\n' "$dir" "$name" "$((SECONDS - t0))"
  cat "$log"
  if [ -f "${log}.why" ]; then cat "${log}.why"; fi
  failed+=("${dir} ${name}")
  # "Failing input written to testdata/fuzz/FuzzX/<hash>", relative to the
  # package directory.
  while read -r rel; do
    crashers+=("${dir}/${rel}")
  done < <(sed -n 's/^[[:space:]]*Failing input written to //p' "$log")
done

echo "== fuzz: ${#targets[@]} targets in $((SECONDS - start))s"
if [ "${#failed[@]}" -eq 0 ]; then
  exit 0
fi
for f in "${failed[@]}"; do
  echo "fuzz: failed: ${f}" >&2
done
for c in "${crashers[@]}"; do
  target="$(basename "$(dirname "$c")")"
  {
    echo
    echo "crasher: ${c}"
    sed -n '1,40s/^/    /p' "$c"
    echo "  reproduce: go test -run '^${target}/$(basename "$c")\$' ${c%%/testdata/*}"
    echo "  fix the bug, then keep the input as a regression case: git add ${c}"
  } >&2
done
exit 1
