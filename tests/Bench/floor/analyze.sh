#!/usr/bin/env bash
# Where a VERSION's time goes, per binary: perf stat (software counters: the VM has no
# hardware counters; REPS runs, default 50), strace -f -c (system calls, threads), callgrind
# (instructions; not for Go binaries, which valgrind cannot run). The callgrind files stay
# in OUTDIR; aot-base-symbols (build.sh's "syms") gives them function names.
#   [REPS=50] bash tests/Bench/floor/analyze.sh [OUTDIR]   (default $FLOOR_OUT/results/analyze-<time>)
set -uo pipefail
. "$(dirname "$0")/env.sh"
OUT=$(realpath -m "${1:-$FLOOR_OUT/results/analyze-$(date +%H%M%S)}"); mkdir -p "$OUT"
REPS=${REPS:-50}
need_tools valgrind perf strace
l4lb=$(plugin_copy "$OUT") || exit 1
export CNI_COMMAND=VERSION
A=$FLOOR_OUT/aot/out
bins=(
  "bridge $CNI_DIR/bridge"
  "dcos-l4lb $l4lb"
  "c-dyn $FLOOR_OUT/c/version-dyn"
  "c-static $FLOOR_OUT/c/version-static"
  "aot-base $A/base/floor"
  "aot-static $A/static/floor"
  "aot-nopie $A/nopie/floor"
  "aot-noconcgc $A/noconcgc/floor"
  "aot-console $A/console/floor"
  "aot-dehydrated $A/dehydrated/floor"
  "aot-base-symbols $FLOOR_OUT/aot/syms/floor"
)
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
printf '%-16s %9s %8s %7s %6s %7s %8s %12s\n' name task-ms faults ctxsw migr threads syscalls instructions | tee "$OUT/summary.txt"
for b in "${bins[@]}"; do
  read -r name bin <<<"$b"
  [ -x "$bin" ] || { echo "$name: $bin not built, skipped" >&2; continue; }
  perf stat -r "$REPS" -x, -e task-clock,page-faults,context-switches,cpu-migrations -o "$OUT/$name.perf" "$bin" <"$VERSION_JSON" >/dev/null
  task=$(awk -F, '$3=="task-clock"{print $1}' "$OUT/$name.perf")
  flt=$(awk -F, '$3=="page-faults"{print $1}' "$OUT/$name.perf")
  cs=$(awk -F, '$3=="context-switches"{print $1}' "$OUT/$name.perf")
  mg=$(awk -F, '$3=="cpu-migrations"{print $1}' "$OUT/$name.perf")
  strace -f -c -o "$OUT/$name.strace-c" "$bin" <"$VERSION_JSON" >/dev/null
  strace -f -o "$OUT/$name.strace" "$bin" <"$VERSION_JSON" >/dev/null
  thr=$(( $(grep -cE 'clone3?\(' "$OUT/$name.strace") + 1 ))
  calls=$(awk '/total/ {print $4}' "$OUT/$name.strace-c")
  if grep -qa 'Go buildinf:' "$bin"; then ir="(Go)"; else
    ir=$(valgrind --tool=callgrind --callgrind-out-file="$OUT/$name.callgrind" "$bin" <"$VERSION_JSON" 2>&1 >/dev/null | awk '/Collected/ {print $4}')
  fi
  printf '%-16s %9.3f %8.0f %7.1f %6.1f %7s %8s %12s\n' "$name" "$task" "$flt" "$cs" "$mg" "$thr" "$calls" "$ir" | tee -a "$OUT/summary.txt"
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
