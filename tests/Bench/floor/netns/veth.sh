#!/usr/bin/env bash
# Kernel cost of veth deletion, in namespaces made here only (never the root netns).
#   bash tests/Bench/floor/netns/veth.sh [N] [OUTDIR]
# Root; N (repetitions of each test) defaults to 50, OUTDIR to $FLOOR_OUT/results/veth-<time>;
# needs build.sh's nldel. Every namespace created is recorded and deleted on exit (also on
# failure / ^C); the links live only inside those namespaces, so deleting them removes
# every link too.
set -euo pipefail
. "$(dirname "$0")/../env.sh"
N=${1:-50}; OUT=$(realpath -m "${2:-$FLOOR_OUT/results/veth-$(date +%H%M%S)}")
need_root
NLDEL=$FLOOR_OUT/nldel; need_built "$NLDEL"
mkdir -p "$OUT"
P=pf$$
H=$P-h            # the "agent"/host side of every pair
created=()
cleanup() { local ns; for ns in "${created[@]}"; do ip netns del "$ns" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mkns() { ip netns add "$1"; created+=("$1"); ip -n "$1" link set lo up; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
us() { echo "${EPOCHREALTIME/[.,]/}"; }
med() { sort -g | awk '{v[NR]=$1} END {if (!NR) {print "nan"; exit}; m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.2f [%.2f-%.2f] (min %.2f, n=%d)", m, v[int((NR-1)*0.25)+1], v[int((NR-1)*0.75+0.999999)+1], v[1], NR}'; }
R=$OUT/raw.tsv; : >"$R"
rec() { printf '%s\t%s\n' "$1" "$2" >>"$R"; }   # test value_ms

mkns "$H"; mkns "$P-x"; mkns "$P-y"
# A veth pair like Spartan's: $2 in netns $1, peer $3 in $H; up, a /32 on each side, a /32
# route each way.  $4 = a number for unique addresses.  $5 = ipv6 mode: on | off (disable_ipv6
# on both ends before up) | nolla (addrgenmode none: no link-local address).
pair() {
  local ns=$1 dev=$2 peer=$3 k=$4 v6=${5:-on} a=$(( $4 / 250 )) b=$(( $4 % 250 + 1 ))
  ip -n "$ns" link add "$dev" type veth peer name "$peer" netns "$H"
  case $v6 in
    off) ip netns exec "$ns" sh -c "echo 1 >/proc/sys/net/ipv6/conf/$dev/disable_ipv6"
         ip netns exec "$H" sh -c "echo 1 >/proc/sys/net/ipv6/conf/$peer/disable_ipv6" ;;
    nolla) ip -n "$ns" link set "$dev" addrgenmode none; ip -n "$H" link set "$peer" addrgenmode none ;;
  esac
  ip -n "$ns" link set "$dev" up; ip -n "$H" link set "$peer" up
  ip -n "$ns" addr add "10.201.$a.$b/32" dev "$dev"; ip -n "$H" addr add "10.202.$a.$b/32" dev "$peer"
  ip -n "$ns" route add "10.202.$a.$b/32" dev "$dev"; ip -n "$H" route add "10.201.$a.$b/32" dev "$peer"
}

echo "load at start: $(load)" | tee "$OUT/load.txt"
# 0. what an `ip` process costs by itself (so the ip wall times can be read as kernel time)
for ((i = 1; i <= N; i++)); do t0=$(us); ip -n "$P-x" link show dev lo >/dev/null; t1=$(us); rec ip-noop "$(( t1 - t0 ))"; done

# 1. one deletion right after set-up (as in a bench cycle), per IPv6 mode; the `ip` process
#    and the raw netlink request (nldel) alternate.
k=0
for v6 in on off nolla; do
  for ((i = 1; i <= N; i++)); do
    k=$((k + 1)); pair "$P-x" sp$k hv$k $k $v6
    t0=$(us); ip -n "$P-x" link del sp$k; t1=$(us); rec "del-ip-v6$v6" "$(( t1 - t0 ))"
    k=$((k + 1)); pair "$P-x" sp$k hv$k $k $v6
    read -r _ _ d < <("$NLDEL" "$P-x" name sp$k); rec "del-nl-v6$v6" "$d"
    # a link that was never brought up and has no addresses
    k=$((k + 1)); ip -n "$P-x" link add sp$k type veth peer name hv$k netns "$H"
    read -r _ _ d < <("$NLDEL" "$P-x" name sp$k); rec "del-nl-down" "$d"
  done
done
echo "load after single deletions: $(load)" | tee -a "$OUT/load.txt"

# 2. settled links: made first, then 3 s (IPv6 DAD, MLD reports done), then deleted one by one
for v6 in on off; do
  base=$k
  for ((i = 1; i <= N; i++)); do k=$((k + 1)); pair "$P-x" sp$k hv$k $k $v6; done
  sleep 3
  for ((i = base + 1; i <= k; i++)); do read -r _ _ d < <("$NLDEL" "$P-x" name sp$i); rec "del-nl-settled-v6$v6" "$d"; done
done
echo "load after settled deletions: $(load)" | tee -a "$OUT/load.txt"

# 3. two deletions at once from two processes, vs one after the other, vs one request for both
#    (a link group).  Same netns (Spartan's veth and the delegate's eth0 are in the same
#    container netns) and different netns.  Wall = first start to last end (nldel's clocks).
two() { # name ns1 dev1 ns2 dev2 mode(par|seq)
  local a b
  if [ "$6" = par ]; then
    "$NLDEL" "$2" name "$3" >"$OUT/o1" & "$NLDEL" "$4" name "$5" >"$OUT/o2" & wait
  else
    "$NLDEL" "$2" name "$3" >"$OUT/o1"; "$NLDEL" "$4" name "$5" >"$OUT/o2"
  fi
  read -r s1 e1 d1 <"$OUT/o1"; read -r s2 e2 d2 <"$OUT/o2"
  rec "$1-wall" "$(awk -v a="$s1" -v b="$e1" -v c="$s2" -v d="$e2" 'BEGIN {print ((b > d ? b : d) - (a < c ? a : c))}')"
  rec "$1-each" "$d1"; rec "$1-each" "$d2"
  # overlap of the two requests' intervals, in us (0 = none)
  rec "$1-overlap" "$(awk -v a="$s1" -v b="$e1" -v c="$s2" -v d="$e2" 'BEGIN {o = (b < d ? b : d) - (a > c ? a : c); print (o > 0 ? o : 0)}')"
}
for ((i = 1; i <= N; i++)); do
  for mode in par seq; do
    k=$((k + 1)); pair "$P-x" sp$k hv$k $k; j=$k; k=$((k + 1)); pair "$P-x" sp$k hv$k $k
    two "same-ns-$mode" "$P-x" sp$j "$P-x" sp$k $mode
    k=$((k + 1)); pair "$P-x" sp$k hv$k $k; j=$k; k=$((k + 1)); pair "$P-y" sp$k hv$k $k
    two "two-ns-$mode" "$P-x" sp$j "$P-y" sp$k $mode
  done
  k=$((k + 1)); pair "$P-x" sp$k hv$k $k; ip -n "$P-x" link set sp$k group 7
  k=$((k + 1)); pair "$P-x" sp$k hv$k $k; ip -n "$P-x" link set sp$k group 7
  read -r _ _ d < <("$NLDEL" "$P-x" group 7); rec "group-of-2" "$d"
done
echo "load after concurrency: $(load)" | tee -a "$OUT/load.txt"

# 4. deleting the whole netns instead: `ip netns del` returns before the kernel tears the
#    netns (and the veth) down; also how long until the peer in $H is gone, and the usual
#    link del + netns del sequence for comparison.
gone_ms() { # peer t0 -> ms until the peer is no longer in $H (polled, ~1 ms resolution)
  while ip -n "$H" link show dev "$1" >/dev/null 2>&1; do :; done; echo $(( $(us) - $2 ))
}
for ((i = 1; i <= N; i++)); do
  k=$((k + 1)); mkns "$P-z$i"; pair "$P-z$i" sp$k hv$k $k
  t0=$(us); ip netns del "$P-z$i"; t1=$(us); rec netns-del-call "$(( t1 - t0 ))"; rec netns-del-peer-gone "$(gone_ms hv$k "$t0")"
  k=$((k + 1)); mkns "$P-w$i"; pair "$P-w$i" sp$k hv$k $k
  t0=$(us); ip -n "$P-w$i" link del sp$k; t1=$(us); ip netns del "$P-w$i"; t2=$(us)
  rec linkdel-then-netns-del-linkdel "$(( t1 - t0 ))"; rec linkdel-then-netns-del-netnsdel "$(( t2 - t1 ))"
done
echo "load at end: $(load)" | tee -a "$OUT/load.txt"
rm -f "$OUT/o1" "$OUT/o2"

{
  echo "ms, median [p25-p75] (min, n); load: $(tr '\n' ';' <"$OUT/load.txt")"
  for t in $(cut -f1 "$R" | awk '!s[$0]++'); do
    printf '%-38s %s\n' "$t" "$(awk -F'\t' -v t="$t" '$1==t {print $2/1000}' "$R" | med)"
  done
} | tee "$OUT/summary.txt"
