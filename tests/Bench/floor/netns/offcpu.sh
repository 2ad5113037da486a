#!/usr/bin/env bash
# Where one veth deletion waits: kernel stacks at the moments the deleting task is switched
# out (sched:sched_switch, system-wide so the switch-ins are seen too), over N deletions
# (default 20) of up veths (peer in a second netns).
#   bash tests/Bench/floor/netns/offcpu.sh [OUTDIR] [N]   (root; default $FLOOR_OUT/results/offcpu-<time>)
set -euo pipefail
. "$(dirname "$0")/../env.sh"
OUT=$(realpath -m "${1:-$FLOOR_OUT/results/offcpu-$(date +%H%M%S)}"); mkdir -p "$OUT"
N=${2:-20}
need_root; need_tools perf python3
NLDEL=$FLOOR_OUT/nldel; need_built "$NLDEL"
P=pfo$$; H=$P-h; X=$P-x
cleanup() { ip netns del "$X" 2>/dev/null || true; ip netns del "$H" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$H"; ip netns add "$X"
for i in $(seq "$N"); do
  ip -n "$X" link add sp$i type veth peer name hv$i netns "$H"; ip -n "$X" link set sp$i up; ip -n "$H" link set hv$i up
done
sleep 1
perf record -q -a -e sched:sched_switch -g -o "$OUT/offcpu.data" -- bash -c "for i in \$(seq $N); do $NLDEL $X name sp\$i; done" >"$OUT/nldel.txt" 2>/dev/null
perf script -i "$OUT/offcpu.data" 2>/dev/null | python3 "$floor/netns/offcpu.py" "$N" | tee "$OUT/summary.txt"
awk '{s+=$3} END {printf "nldel: mean kernel time per deletion %.2f ms over %d\n", s/NR/1000, NR}' "$OUT/nldel.txt" | tee -a "$OUT/summary.txt"
sort -n -k3 "$OUT/nldel.txt" | awk '{v[NR]=$3} END {printf "nldel: median %.2f ms\n", v[int((NR+1)/2)]/1000}' | tee -a "$OUT/summary.txt"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/summary.txt"
