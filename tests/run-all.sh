#!/usr/bin/env bash
# Runs every test suite against the freshly built bin/dcos-l4lb and closes with the
# total as the plain line "N passed, N failed". Exits non-zero if anything failed,
# including a suite that crashed before reporting.
set -uo pipefail
cd "$(dirname "$0")/.."

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
passed=0
failed=0

count() { # suite-name log-file exit-code
  local line p f
  line=$(grep -aoE '[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
  if [ -z "$line" ]; then
    echo "$1: no summary (exit $3); counted as one failure" >&2
    failed=$((failed + 1))
    return
  fi
  p=${line%% passed*}
  f=${line##*, }
  f=${f%% failed}
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "$1: exit $3 with no failed test; counted as one failure" >&2
    failed=$((failed + 1))
  fi
}

for suite in Properties Protocol Integration Conflist Reliability Ctl LibraryCSharp; do
  project=tests/$suite
  if dotnet build "$project" -c Release -v quiet -nologo > "$logs/$suite.build" 2>&1; then
    dotnet "$project/bin/Release/net10.0/Dcos.L4lb.$suite.dll" --summary 2>&1 | tee "$logs/$suite.out"
    count "$suite" "$logs/$suite.out" "${PIPESTATUS[0]}"
  else
    cat "$logs/$suite.build"
    echo "$suite: build failed" > "$logs/$suite.out"
    count "$suite" "$logs/$suite.out" 1
  fi
done

bash tests/FullKernel/lane.sh 2>&1 | tee "$logs/FullKernel.out"
count "FullKernel" "$logs/FullKernel.out" "${PIPESTATUS[0]}"

bash tests/aot-audit.sh 2>&1 | tee "$logs/audit.out"
count "aot-audit" "$logs/audit.out" "${PIPESTATUS[0]}"

bash tests/deb.sh 2>&1 | tee "$logs/deb.out"
count "deb" "$logs/deb.out" "${PIPESTATUS[0]}"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
