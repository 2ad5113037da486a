#!/usr/bin/env bash
# What dcos-l4lb's Spartan work costs next to the delegate (bridge), without dcos-l4lb's own
# process: its steps are done by small tools (host-local for the Spartan IPAM, nldel for the
# RTM_DELLINK) in several arrangements, each a candidate design:
#   today      ADD: bridge ADD; host-local ADD (Spartan IPAM)
#              DEL: delete spartan; host-local DEL (Spartan IPAM); bridge DEL
#   bridge     ADD: bridge ADD        DEL: bridge DEL        (= scenario a; Spartan set-up/clean-up untimed)
#   par        ADD: bridge ADD || host-local ADD      DEL: (delete spartan; host-local DEL) || bridge DEL
#   batch      ADD: as today          DEL: one request deletes the group {spartan, eth0}; host-local DEL;
#              bridge DEL (bridge finds eth0 gone, releases its IPAM only; with "ipMasq": true
#              it would leave its masquerade rules behind: bridge 1.1.1's DEL finds them through
#              eth0's addresses, see tests/Bench/README.md)
#   batchpar   ADD: as par            DEL: (group delete; bridge DEL) || host-local DEL
#   inproc     in-process Spartan IPAM (no host-local run; its file work is ~0):
#              ADD: bridge ADD        DEL: group delete; bridge DEL
#   inprocpar  ADD: bridge ADD        DEL: delete spartan || bridge DEL
#   hl         host-local ADD / DEL alone (the Spartan IPAM's share)
#   ptp        ptp ADD / DEL alone, host-local IPAM (= scenario b, the yardstick)
#   l4lb       dcos-l4lb itself (= scenario c; a copy of $PLUGIN, default bin/dcos-l4lb),
#              README config with Minuteman off, delegating to bridge
# Veth creation/addresses/routes (~2 ms in-process) are made untimed with `ip`, since ip's own
# process start would dominate.  Each cycle: a fresh container netns; variants rotate per cycle;
# timed with bash's $EPOCHREALTIME as bench.sh does (so each process run includes a bash fork).
# Runs in an "agent" netns with a private /var/lib (tmpfs), like bench.sh; every netns made here
# is deleted on exit.
#   bash tests/Bench/floor/netns/delegate.sh [N] [OUTDIR]
# Root; N cycles (default 30) after 2 warm-up cycles; OUTDIR defaults to
# $FLOOR_OUT/results/delegate-<time>; needs build.sh's nldel. ratios.sh turns the result
# into overhead estimates.
set -euo pipefail
. "$(dirname "$0")/../env.sh"
N=${1:-30}; OUT=$(realpath -m "${2:-$FLOOR_OUT/results/delegate-$(date +%H%M%S)}")
need_root
NLDEL=$FLOOR_OUT/nldel; need_built "$NLDEL" "$CNI_DIR/bridge" "$CNI_DIR/ptp" "$CNI_DIR/host-local"
mkdir -p "$OUT"
P=pfd$$
agent=$P-agent
created=()
cleanup() { local ns; for ns in "${created[@]}"; do ip netns del "$ns" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM
variants=(today bridge par batch batchpar inproc inprocpar hl ptp l4lb)
L4LB=$(plugin_copy "$OUT")
W=2
total=$((N + W))
ip netns add "$agent"; created+=("$agent")
for ((i = 1; i <= total; i++)); do for v in "${variants[@]}"; do ip netns add "$P-$v$i"; created+=("$P-$v$i"); done; done
cat >"$OUT/bridge.json" <<'JSON'
{ "cniVersion": "0.2.0", "name": "spartan-net", "type": "bridge", "bridge": "sprt-cni0", "ipMasq": false,
  "isGateway": true, "ipam": { "type": "host-local", "subnet": "192.168.30.0/24", "routes": [ { "dst": "10.0.0.0/8" } ] } }
JSON
cat >"$OUT/spartan-ipam.json" <<'JSON'
{ "cniVersion": "0.2.0", "name": "spartan-ipam", "ipam": { "type": "host-local", "subnet": "198.51.100.0/24" } }
JSON
cat >"$OUT/ptp.json" <<'JSON'
{ "cniVersion": "0.2.0", "name": "bench-ptp", "type": "ptp", "ipMasq": false,
  "ipam": { "type": "host-local", "subnet": "192.168.40.0/24", "routes": [ { "dst": "10.0.0.0/8" } ] } }
JSON
cat >"$OUT/l4lb.json" <<'JSON'
{ "cniVersion": "0.2.0", "name": "spartan-net", "type": "dcos-l4lb",
  "minuteman": { "enable": false },
  "delegate": { "type": "bridge", "bridge": "sprt-cni0", "ipMasq": false, "isGateway": true, "ipam": { "type": "host-local", "subnet": "192.168.30.0/24", "routes": [ { "dst": "10.0.0.0/8" } ] } } }
JSON
cat >"$OUT/inner.sh" <<'INNER'
set -euo pipefail
mkdir -p /var/lib/cni; ip link set lo up
us() { echo "${EPOCHREALTIME/[.,]/}"; }
env_for() { echo "CNI_CONTAINERID=$2 CNI_NETNS=/run/netns/$1 CNI_IFNAME=eth0 CNI_PATH=$CNI_DIR"; }
br() { # command ns id
  CNI_COMMAND=$1 CNI_CONTAINERID=$3 CNI_NETNS=/run/netns/$2 CNI_IFNAME=eth0 CNI_PATH=$CNI_DIR \
    $CNI_DIR/bridge <"$OUT/bridge.json" >/dev/null
}
hl() { # command ns id   (the Spartan IPAM: host-local on its own range)
  CNI_COMMAND=$1 CNI_CONTAINERID=$3 CNI_NETNS=/run/netns/$2 CNI_IFNAME=spartan CNI_PATH=$CNI_DIR \
    $CNI_DIR/host-local <"$OUT/spartan-ipam.json" >/dev/null
}
ptp() { # command ns id
  CNI_COMMAND=$1 CNI_CONTAINERID=$3 CNI_NETNS=/run/netns/$2 CNI_IFNAME=eth0 CNI_PATH=$CNI_DIR \
    $CNI_DIR/ptp <"$OUT/ptp.json" >/dev/null
}
l4lb() { # command ns id
  CNI_COMMAND=$1 CNI_CONTAINERID=$3 CNI_NETNS=/run/netns/$2 CNI_IFNAME=eth0 CNI_PATH=$CNI_DIR \
    "$L4LB" <"$OUT/l4lb.json" >/dev/null
}
spartan() { # ns k: veth "spartan" in the container, peer sp<k> in the agent, up, /32s, routes
  local ns=$1 k=$2 a=198.51.100.$(( $2 % 250 + 1 ))
  ip link add "sp$k" type veth peer name spartan netns "$ns"
  ip link set "sp$k" up; ip -n "$ns" link set spartan up
  ip -n "$ns" addr add "$a/32" dev spartan; ip -n "$ns" route add 198.51.100.254/32 dev spartan
  ip route add "$a/32" dev "sp$k"
}
: >"$OUT/raw.tsv"
read -r -a variants <<<"$VARIANTS"
nv=${#variants[@]}
for ((i = 1; i <= TOTAL; i++)); do
  for ((j = 0; j < nv; j++)); do
    v=${variants[$(((i + j) % nv))]}; ns=$P-$v$i; id=$v-$i; k=$((i * nv + j))
    if [ "$v" = ptp ] || [ "$v" = l4lb ]; then
      t0=$(us); $v ADD "$ns" "$id"; t1=$(us); $v DEL "$ns" "$id"; t2=$(us)
      if ((i > W)); then printf '%s\t%d\t%d\n' "$v" $((t1 - t0)) $((t2 - t1)) >>"$OUT/raw.tsv"; fi
      continue
    fi
    # ---- ADD
    case $v in
      today|batch)         t0=$(us); br ADD "$ns" "$id"; hl ADD "$ns" "$id"; t1=$(us) ;;
      par|batchpar)        t0=$(us); hl ADD "$ns" "$id" & br ADD "$ns" "$id"; wait; t1=$(us) ;;
      bridge)              t0=$(us); br ADD "$ns" "$id"; t1=$(us); hl ADD "$ns" "$id" ;;
      inproc|inprocpar)    t0=$(us); br ADD "$ns" "$id"; t1=$(us) ;;
      hl)                  br ADD "$ns" "$id"; t0=$(us); hl ADD "$ns" "$id"; t1=$(us) ;;
    esac
    spartan "$ns" "$k"
    # ---- DEL
    case $v in
      today)     t2=$(us); "$NLDEL" "$ns" name spartan >/dev/null; hl DEL "$ns" "$id"; br DEL "$ns" "$id"; t3=$(us) ;;
      bridge)    t2=$(us); br DEL "$ns" "$id"; t3=$(us); "$NLDEL" "$ns" name spartan >/dev/null; hl DEL "$ns" "$id" ;;
      par)       t2=$(us); { "$NLDEL" "$ns" name spartan >/dev/null; hl DEL "$ns" "$id"; } & br DEL "$ns" "$id"; wait; t3=$(us) ;;
      batch)     t2=$(us); "$NLDEL" "$ns" batch 77 spartan eth0 >/dev/null; hl DEL "$ns" "$id"; br DEL "$ns" "$id"; t3=$(us) ;;
      batchpar)  t2=$(us); { "$NLDEL" "$ns" batch 77 spartan eth0 >/dev/null; br DEL "$ns" "$id"; } & hl DEL "$ns" "$id"; wait; t3=$(us) ;;
      inproc)    t2=$(us); "$NLDEL" "$ns" batch 77 spartan eth0 >/dev/null; br DEL "$ns" "$id"; t3=$(us) ;;
      inprocpar) t2=$(us); "$NLDEL" "$ns" name spartan >/dev/null & br DEL "$ns" "$id"; wait; t3=$(us) ;;
      hl)        "$NLDEL" "$ns" batch 77 spartan eth0 >/dev/null; br DEL "$ns" "$id"; t2=$(us); hl DEL "$ns" "$id"; t3=$(us) ;;
    esac
    if ((i > W)); then printf '%s\t%d\t%d\n' "$v" $((t1 - t0)) $((t3 - t2)) >>"$OUT/raw.tsv"; fi
    # nothing may be left behind
    if ip link show "sp$k" >/dev/null 2>&1; then echo "sp$k left behind ($v)" >&2; exit 1; fi
  done
done
left=$(ls /var/lib/cni/networks/spartan-net /var/lib/cni/networks/spartan-ipam /var/lib/cni/networks/bench-ptp | grep -c -v -e lock -e last_reserved -e '^/' -e '^$' || true)
[ "$left" -eq 0 ] || { echo "leases left: $left" >&2; exit 1; }
INNER
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
export OUT P TOTAL=$total W VARIANTS="${variants[*]}" L4LB NLDEL CNI_DIR
unshare --mount --propagation private bash -c 'mount -t tmpfs pf-delegate /var/lib && exec ip netns exec "$0" bash "$1"' "$agent" "$OUT/inner.sh"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
med() { sort -g | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%6.2f [%6.2f-%6.2f]", m, v[int((NR-1)*0.25)+1], v[int((NR-1)*0.75+0.999999)+1]}'; }
{
  echo "ms (bash \$EPOCHREALTIME), median [p25-p75] of $N cycles; load: $(tr '\n' ';' <"$OUT/load.txt")"
  printf '%-10s %-26s %-26s %-26s\n' variant ADD DEL ADD+DEL
  for v in "${variants[@]}"; do
    printf '%-10s %s   %s   %s\n' "$v" "$(awk -F'\t' -v v="$v" '$1==v {print $2/1000}' "$OUT/raw.tsv" | med)" \
      "$(awk -F'\t' -v v="$v" '$1==v {print $3/1000}' "$OUT/raw.tsv" | med)" "$(awk -F'\t' -v v="$v" '$1==v {print ($2+$3)/1000}' "$OUT/raw.tsv" | med)"
  done
} | tee "$OUT/summary.txt"
