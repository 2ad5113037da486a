#!/usr/bin/env bash
# Kernel+user profile of VERSION (perf record, cpu-clock, RUNS runs each, default 300),
# classified by perfclass.py. Percentages are of the samples of the measured process (all
# its threads).   [RUNS=300] bash tests/Bench/floor/perfprofile.sh [OUTDIR]
set -euo pipefail
. "$(dirname "$0")/env.sh"
OUT=$(realpath -m "${1:-$FLOOR_OUT/results/perf-$(date +%H%M%S)}"); mkdir -p "$OUT"
RUNS=${RUNS:-300}
need_tools perf python3
need_built "$FLOOR_OUT/c/version-dyn" "$FLOOR_OUT/aot/out/base/floor" "$FLOOR_OUT/aot/out/static/floor"
l4lb=$(plugin_copy "$OUT")
export CNI_COMMAND=VERSION VERSION_JSON RUNS
for b in "bridge $CNI_DIR/bridge" "dcos-l4lb $l4lb" "c-dyn $FLOOR_OUT/c/version-dyn" \
         "aot-base $FLOOR_OUT/aot/out/base/floor" "aot-static $FLOOR_OUT/aot/out/static/floor"; do
  read -r name bin <<<"$b"
  echo "== $name (load $(cut -d' ' -f1-3 /proc/loadavg))"
  perf record -q -e cpu-clock -F 20000 -g -o "$OUT/$name.data" -- \
    bash -c 'for i in $(seq "$RUNS"); do "$0" <"$VERSION_JSON" >/dev/null; done' "$bin" 2>/dev/null
  perf script -i "$OUT/$name.data" -F comm,tid,ip,sym,dso 2>/dev/null | python3 "$floor/perfclass.py" >"$OUT/$name.txt"; head -22 "$OUT/$name.txt"
done
