#!/usr/bin/env bash
# Target 1: VERSION latency of bridge, dcos-l4lb, the C floor and every minimal Native AOT
# variant that build.sh has built, in three independent measurements:
#   1. runner: all commands interleaved (rotating order) per iteration, stdin = version.json,
#      wall time + rusage (ru_maxrss = what /usr/bin/time %M reports, minor faults, ctx sw).
#   2. hyperfine -N --warmup WARMUP --runs RUNS (hyperfine 1.15 has no --input: stdin is
#      /dev/null), two passes in opposite command order, medians of both passes.
#   3. /usr/bin/time -f %M, RSS_RUNS runs each, median.
#   [ONLY=regex] [WARMUP=20] [RSS_RUNS=20] bash tests/Bench/floor/version.sh [RUNS] [OUTDIR]
# RUNS defaults to 300; OUTDIR to $FLOOR_OUT/results/version-<time>. The last lines are
# the table; ÷bridge is each median over bridge's.
set -euo pipefail
. "$(dirname "$0")/env.sh"
RUNS=${1:-300}; OUT=$(realpath -m "${2:-$FLOOR_OUT/results/version-$(date +%H%M%S)}")
WARMUP=${WARMUP:-20}; RSS_RUNS=${RSS_RUNS:-20}
need_tools hyperfine jq bc /usr/bin/time
need_built "$FLOOR_OUT/runner" "$FLOOR_OUT/c/version-dyn" "$FLOOR_OUT/c/version-static" "$CNI_DIR/bridge"
mkdir -p "$OUT"
l4lb=$(plugin_copy "$OUT")
export CNI_COMMAND=VERSION
cmds=(
  "bridge	$CNI_DIR/bridge"
  "dcos-l4lb	$l4lb"
  "c-dyn	$FLOOR_OUT/c/version-dyn"
  "c-static	$FLOOR_OUT/c/version-static"
)
for d in "$FLOOR_OUT"/aot/out/*/; do [ -x "$d/floor" ] && cmds+=("aot-$(basename "$d")	${d%/}/floor"); done
# Runtime knobs given as environment. Native AOT reads the DOTNET_* GC settings as hex
# without 0x: a value written 0x... is silently ignored.
base=$FLOOR_OUT/aot/out/base/floor
if [ -x "$base" ]; then
  cmds+=(
    "aot-base+GCgen0size=4MB	$base	DOTNET_GCgen0size=400000"
    "aot-base+gcConcurrent=0	$base	DOTNET_gcConcurrent=0"
    "aot-base+HeapHardLimit=32MB	$base	DOTNET_GCHeapHardLimit=2000000"
    "aot-base+RegionRange=256MB	$base	DOTNET_GCRegionRange=10000000"
    "aot-base+TieredPGO=0	$base	DOTNET_TieredPGO=0"
  )
fi
cmds+=("dcos-l4lb+gcConc0+HardLimit	$l4lb	DOTNET_gcConcurrent=0 DOTNET_GCHeapHardLimit=2000000")
# ONLY=regex keeps the commands whose name matches (e.g. ONLY='^(bridge|dcos-l4lb|c-dyn|aot-base|aot-static)$')
printf '%s\n' "${cmds[@]}" | awk -F'\t' -v re="${ONLY:-.}" '$1 ~ re' >"$OUT/cmds.tsv"
grep -q '^bridge	' "$OUT/cmds.tsv" || { echo "version.sh: ONLY must keep bridge, the yardstick" >&2; exit 2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
med() { sort -g | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.3f %.3f %.3f %.3f", m, v[int((NR-1)*0.25)+1], v[int((NR-1)*0.75+0.999999)+1], v[1]}'; }

echo "load before runner: $(load)" | tee "$OUT/load.txt"
"$FLOOR_OUT/runner" "$RUNS" "$WARMUP" "$VERSION_JSON" "$OUT/runner.tsv" "$OUT/cmds.tsv"
echo "load after runner: $(load)" | tee -a "$OUT/load.txt"

hf=()
while IFS=$'\t' read -r n p e; do if [ -z "$e" ]; then hf+=(-n "$n" "$p"); fi; done <"$OUT/cmds.tsv"
hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT/hf1.json" "${hf[@]}" >/dev/null
echo "load after hyperfine pass 1: $(load)" | tee -a "$OUT/load.txt"
hfr=()
while IFS=$'\t' read -r n p e; do if [ -z "$e" ]; then hfr=(-n "$n" "$p" "${hfr[@]}"); fi; done <"$OUT/cmds.tsv"
hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT/hf2.json" "${hfr[@]}" >/dev/null
echo "load after hyperfine pass 2: $(load)" | tee -a "$OUT/load.txt"
# environment variants: hyperfine -N cannot set a per-command environment, so one run each
k=0
while IFS=$'\t' read -r n p e; do
  if [ -z "$e" ]; then continue; fi; k=$((k+1))
  # shellcheck disable=SC2086
  env $e hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT/hf-env$k.json" -n "$n" "$p" >/dev/null
done <"$OUT/cmds.tsv"
echo "load after hyperfine env variants: $(load)" | tee -a "$OUT/load.txt"

: >"$OUT/rss.tsv"
while IFS=$'\t' read -r n p e; do
  # shellcheck disable=SC2086
  for i in $(seq "$RSS_RUNS"); do env $e /usr/bin/time -f %M -o "$OUT/t" "$p" <"$VERSION_JSON" >/dev/null; printf '%s\t%s\n' "$n" "$(cat "$OUT/t")" >>"$OUT/rss.tsv"; done
done <"$OUT/cmds.tsv"
rm -f "$OUT/t"
echo "load after rss: $(load)" | tee -a "$OUT/load.txt"

bridge_r=$(awk -F'\t' '$1=="bridge"{print $3/1000}' "$OUT/runner.tsv" | med | cut -d' ' -f1)
bridge_h=$(jq -r '.results[] | select(.command=="bridge") | .times[] | .*1000' "$OUT"/hf*.json | med | cut -d' ' -f1)
{
printf '%-28s %9s | %-30s %6s | %-30s %6s | %7s %7s %6s %8s\n' name bytes "runner ms med [p25-p75] (min)" "÷bridge" "hyperfine ms med [p25-p75] (min)" "÷bridge" "RSS KiB" "(rusage)" minflt "ctxsw"
while IFS=$'\t' read -r n p e; do
  read -r m q1 q3 mn <<<"$(awk -F'\t' -v n="$n" '$1==n{print $3/1000}' "$OUT/runner.tsv" | med)"
  read -r hm hq1 hq3 hmn <<<"$(jq -r --arg n "$n" '.results[] | select(.command==$n) | .times[] | .*1000' "$OUT"/hf*.json | med)"
  rss=$(awk -F'\t' -v n="$n" '$1==n{print $2}' "$OUT/rss.tsv" | med | cut -d' ' -f1)
  rrss=$(awk -F'\t' -v n="$n" '$1==n{print $4}' "$OUT/runner.tsv" | med | cut -d' ' -f1)
  flt=$(awk -F'\t' -v n="$n" '$1==n{print $5}' "$OUT/runner.tsv" | med | cut -d' ' -f1)
  cs=$(awk -F'\t' -v n="$n" '$1==n{print $6+$7}' "$OUT/runner.tsv" | med | cut -d' ' -f1)
  printf '%-28s %9s | %5.2f [%5.2f-%5.2f] (%5.2f)      %6.2f | %5.2f [%5.2f-%5.2f] (%5.2f)      %6.2f | %7.0f %8.0f %6.0f %8.1f\n' \
    "$n" "$(stat -L -c %s "$p")" "$m" "$q1" "$q3" "$mn" "$(echo "$m/$bridge_r" | bc -l)" "$hm" "$hq1" "$hq3" "$hmn" "$(echo "$hm/$bridge_h" | bc -l)" "$rss" "$rrss" "$flt" "$cs"
done <"$OUT/cmds.tsv"
} | tee "$OUT/summary.txt"
