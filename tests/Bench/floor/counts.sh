#!/usr/bin/env bash
# Load-independent counts of one VERSION for every binary: callgrind instructions (not for
# Go, which valgrind cannot run), page faults (perf stat, median of REPS, default 11),
# system calls and threads (strace -f).
#   [REPS=11] bash tests/Bench/floor/counts.sh [OUTFILE]   (default $FLOOR_OUT/results/counts-<time>.txt)
set -uo pipefail
. "$(dirname "$0")/env.sh"
OUT=$(realpath -m "${1:-$FLOOR_OUT/results/counts-$(date +%H%M%S).txt}")
REPS=${REPS:-11}
need_tools valgrind perf strace
need_built "$FLOOR_OUT/c/version-dyn" "$FLOOR_OUT/c/version-static"
mkdir -p "$(dirname "$OUT")"
tmp=$(mktemp -d /tmp/dcos-l4lb-floor-counts.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
l4lb=$(plugin_copy "$tmp") || exit 1
export CNI_COMMAND=VERSION
{
printf '%-22s %9s %12s %7s %9s %8s\n' name bytes instructions faults syscalls threads
for pair in "c-dyn:$FLOOR_OUT/c/version-dyn" "c-static:$FLOOR_OUT/c/version-static" "dcos-l4lb:$l4lb" "bridge:$CNI_DIR/bridge" \
            $(for d in "$FLOOR_OUT"/aot/out/*/; do [ -x "$d/floor" ] && echo "aot-$(basename "$d"):${d}floor"; done); do
  n=${pair%%:*}; p=${pair#*:}
  if grep -qa 'Go buildinf:' "$p"; then ir="(Go)"; else
    ir=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$p" <"$VERSION_JSON" 2>&1 >/dev/null | awk '/Collected/ {print $4}'); fi
  f=$(for i in $(seq "$REPS"); do perf stat -x, -e page-faults "$p" <"$VERSION_JSON" 2>&1 >/dev/null | awk -F, '/page-faults/ {print $1}'; done | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
  strace -f -c -o "$tmp/st" "$p" <"$VERSION_JSON" >/dev/null; sc=$(awk '/total/ {print $4}' "$tmp/st")
  strace -f -e trace=clone,clone3 -o "$tmp/st" "$p" <"$VERSION_JSON" >/dev/null; th=$(( $(grep -cE '^[0-9]+ +clone3?\(' "$tmp/st") + 1 ))
  printf '%-22s %9s %12s %7s %9s %8s\n' "$n" "$(stat -c %s "$p")" "$ir" "$f" "$sc" "$th"
done
} | tee "$OUT"
