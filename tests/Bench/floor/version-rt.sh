#!/usr/bin/env bash
# VERSION latency with the runner and its children at SCHED_FIFO priority 50 (chrt), so the
# machine's other CFS load cannot preempt them: an estimate of the figures on a quiet
# machine. (RT throttling still leaves 5% to everyone else; at RUNS=300 the run takes a few
# seconds.) Commands: bridge, dcos-l4lb, the C floor and the aot variants base, static,
# nopie and noconcgc that build.sh has built; ALL=1 adds every built variant and the
# environment knobs.   [ALL=1] [WARMUP=20] bash tests/Bench/floor/version-rt.sh [RUNS] [OUTDIR]
set -euo pipefail
. "$(dirname "$0")/env.sh"
RUNS=${1:-300}; OUT=$(realpath -m "${2:-$FLOOR_OUT/results/version-rt-$(date +%H%M%S)}")
WARMUP=${WARMUP:-20}
[ "$(id -u)" -eq 0 ] || { echo "version-rt.sh needs root (chrt -f)" >&2; exit 1; }
need_tools chrt bc
need_built "$FLOOR_OUT/runner" "$FLOOR_OUT/c/version-dyn" "$FLOOR_OUT/c/version-static" "$CNI_DIR/bridge"
mkdir -p "$OUT"
l4lb=$(plugin_copy "$OUT")
export CNI_COMMAND=VERSION
A=$FLOOR_OUT/aot/out
{
  printf '%s\n' "bridge	$CNI_DIR/bridge" "dcos-l4lb	$l4lb" "c-dyn	$FLOOR_OUT/c/version-dyn" "c-static	$FLOOR_OUT/c/version-static"
  for v in base static nopie noconcgc; do if [ -x "$A/$v/floor" ]; then printf 'aot-%s\t%s\n' "$v" "$A/$v/floor"; fi; done
  if [ -n "${ALL:-}" ]; then
    for d in "$A"/*/; do v=$(basename "$d"); [ -x "$d/floor" ] || continue; case $v in base|static|nopie|noconcgc) ;; *) printf 'aot-%s\t%s\n' "$v" "${d%/}/floor" ;; esac; done
    base=$A/base/floor
    # hex without 0x (see version.sh)
    if [ -x "$base" ]; then printf '%s\n' "aot-base+GCgen0size=4MB	$base	DOTNET_GCgen0size=400000" "aot-base+gcConcurrent=0	$base	DOTNET_gcConcurrent=0" \
      "aot-base+HeapHardLimit=32MB	$base	DOTNET_GCHeapHardLimit=2000000" "aot-base+RegionRange=256MB	$base	DOTNET_GCRegionRange=10000000" \
      "aot-base+TieredPGO=0	$base	DOTNET_TieredPGO=0"; fi
  fi
} >"$OUT/cmds.tsv"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
chrt -f 50 "$FLOOR_OUT/runner" "$RUNS" "$WARMUP" "$VERSION_JSON" "$OUT/runner.tsv" "$OUT/cmds.tsv"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
med() { sort -g | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.3f %.3f %.3f %.3f", m, v[int((NR-1)*0.25)+1], v[int((NR-1)*0.75+0.999999)+1], v[1]}'; }
b=$(awk -F'\t' '$1=="bridge"{print $3/1000}' "$OUT/runner.tsv" | med | cut -d' ' -f1)
bmin=$(awk -F'\t' '$1=="bridge"{print $3/1000}' "$OUT/runner.tsv" | med | cut -d' ' -f4)
printf '%-28s %-30s %8s %8s %9s %9s\n' name "ms med [p25-p75] (min)" "÷bridge" "min÷min" "utime-us" "stime-us" | tee "$OUT/summary.txt"
while IFS=$'\t' read -r n p e; do
  read -r m q1 q3 mn <<<"$(awk -F'\t' -v n="$n" '$1==n{print $3/1000}' "$OUT/runner.tsv" | med)"
  ut=$(awk -F'\t' -v n="$n" '$1==n{s+=$8; c++} END {printf "%.0f", s/c}' "$OUT/runner.tsv")
  st=$(awk -F'\t' -v n="$n" '$1==n{s+=$9; c++} END {printf "%.0f", s/c}' "$OUT/runner.tsv")
  printf '%-28s %5.2f [%5.2f-%5.2f] (%5.2f)     %8.2f %8.2f %9s %9s\n' "$n" "$m" "$q1" "$q3" "$mn" "$(echo "$m/$b" | bc -l)" "$(echo "$mn/$bmin" | bc -l)" "$ut" "$st" | tee -a "$OUT/summary.txt"
done <"$OUT/cmds.tsv"
