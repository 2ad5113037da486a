#!/usr/bin/env bash
# IPAM share: one host-local ADD+DEL on its own (private dataDir under /tmp), next to a
# process floor (the C VERSION program), host-local VERSION, bridge VERSION, dcos-l4lb VERSION
# (a copy of $PLUGIN) and the minimal Native AOT program (dynamic and static), all timed
# the way bench.sh times (bash $EPOCHREALTIME around the process), interleaved per iteration.
#   bash tests/Bench/floor/netns/hostlocal.sh [N] [OUTDIR]
# Root; N iterations (default 50) after 5 warm-up ones; OUTDIR defaults to
# $FLOOR_OUT/results/hostlocal-<time>; needs build.sh's C program and aot base and static.
set -euo pipefail
. "$(dirname "$0")/../env.sh"
N=${1:-50}; OUT=$(realpath -m "${2:-$FLOOR_OUT/results/hostlocal-$(date +%H%M%S)}")
need_root
C=$FLOOR_OUT/c/version-dyn AOT=$FLOOR_OUT/aot/out/base/floor AOTS=$FLOOR_OUT/aot/out/static/floor
need_built "$C" "$AOT" "$AOTS" "$CNI_DIR/host-local" "$CNI_DIR/bridge"
mkdir -p "$OUT"
L4LB=$(plugin_copy "$OUT")
P=pfh$$
data=$(mktemp -d /tmp/dcos-l4lb-floor-hl.XXXXXX)
created=()
cleanup() { local ns; for ns in "${created[@]}"; do ip netns del "$ns" 2>/dev/null || true; done; rm -rf "$data"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$P"; created+=("$P")   # only so CNI_NETNS names a real netns; host-local never enters it
load() { cut -d' ' -f1-3 /proc/loadavg; }
us() { echo "${EPOCHREALTIME/[.,]/}"; }
med() { sort -g | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.2f [%.2f-%.2f] (min %.2f, n=%d)", m, v[int((NR-1)*0.25)+1], v[int((NR-1)*0.75+0.999999)+1], v[1], NR}'; }
cat >"$data/conf.json" <<JSON
{ "cniVersion": "0.2.0", "name": "pf-hl",
  "ipam": { "type": "host-local", "subnet": "10.203.0.0/16", "dataDir": "$data/ipam",
            "routes": [ { "dst": "10.0.0.0/8" } ] } }
JSON
R=$OUT/raw.tsv; : >"$R"
echo "load at start: $(load)" | tee "$OUT/load.txt"
export CNI_PATH=$CNI_DIR CNI_IFNAME=eth0 CNI_NETNS=/run/netns/$P
for ((i = -5; i <= N; i++)); do
  export CNI_CONTAINERID=pf-hl-$i
  t0=$(us); CNI_COMMAND=ADD "$CNI_DIR/host-local" <"$data/conf.json" >/dev/null; t1=$(us)
  CNI_COMMAND=DEL "$CNI_DIR/host-local" <"$data/conf.json" >/dev/null; t2=$(us)
  CNI_COMMAND=VERSION "$CNI_DIR/host-local" </dev/null >/dev/null; t3=$(us)
  CNI_COMMAND=VERSION "$CNI_DIR/bridge" </dev/null >/dev/null; t4=$(us)
  CNI_COMMAND=VERSION "$C" <"$VERSION_JSON" >/dev/null; t5=$(us)
  CNI_COMMAND=VERSION "$L4LB" <"$VERSION_JSON" >/dev/null; t6=$(us)
  CNI_COMMAND=VERSION "$AOT" <"$VERSION_JSON" >/dev/null; t7=$(us)
  CNI_COMMAND=VERSION "$AOTS" <"$VERSION_JSON" >/dev/null; t8=$(us)
  if ((i > 0)); then
    printf 'hl-ADD\t%d\nhl-DEL\t%d\nhl-ADD+DEL\t%d\nhl-VERSION\t%d\nbridge-VERSION\t%d\nc-floor-VERSION\t%d\ndcos-l4lb-VERSION\t%d\naot-base-VERSION\t%d\naot-static-VERSION\t%d\n' \
      $((t1 - t0)) $((t2 - t1)) $((t2 - t0)) $((t3 - t2)) $((t4 - t3)) $((t5 - t4)) $((t6 - t5)) $((t7 - t6)) $((t8 - t7)) >>"$R"
  fi
done
[ -z "$(ls "$data/ipam/pf-hl" 2>/dev/null | grep -v -e lock -e last_reserved)" ] || echo "warning: leases left in $data/ipam" >&2
echo "load at end: $(load)" | tee -a "$OUT/load.txt"
{
  echo "ms (bash \$EPOCHREALTIME around the process), median [p25-p75] (min, n); load: $(tr '\n' ';' <"$OUT/load.txt")"
  for t in $(cut -f1 "$R" | awk '!s[$0]++'); do printf '%-20s %s\n' "$t" "$(awk -F'\t' -v t="$t" '$1==t {print $2/1000}' "$R" | med)"; done
} | tee "$OUT/summary.txt"
