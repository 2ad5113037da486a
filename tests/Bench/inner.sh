#!/usr/bin/env bash
# The timed part of tests/Bench/bench.sh. It runs inside the bench's "agent" network
# namespace and a private mount namespace whose /var/lib is a tmpfs, so IPAM state
# (host-local's /var/lib/cni/networks) is throwaway. bench.sh creates every container
# netns before it starts this script: nothing here creates or deletes a namespace, and
# `ip netns exec` is not inside the timed loop.
#
# Input (environment, set by bench.sh):
#   WORK        the bench's work directory (configs, results)
#   N, WARMUP   measured and warm-up cycles per scenario
#   PLUGIN      the dcos-l4lb binary; CNI_DIR the reference plugins (bridge, ptp, host-local)
#   CTR_PREFIX  container netns names are $CTR_PREFIX<scenario><cycle>
#   RSS_RUNS    runs per plugin for the peak-RSS measurement of ADD
#   LOG_RUNS    extra cycles of (c) with dcos-l4lb's effect log on, for the breakdown
# Output: $WORK/cycles.tsv  (scenario cycle add_us del_us)
#         $WORK/rss.tsv     (what plugin tree_kib own_kib)
#         $WORK/logged.tsv  (cycle add_us del_us) and $WORK/effects.log, for the breakdown
set -uo pipefail

mkdir -p /var/lib/cni
ip link set lo up

scenarios=(a b c)
declare -A conf=([a]="$WORK/a-bridge.json" [b]="$WORK/b-ptp.json" [c]="$WORK/c-l4lb.json" [e]="$WORK/c-l4lb.json")
declare -A bin=([a]="$CNI_DIR/bridge" [b]="$CNI_DIR/ptp" [c]="$PLUGIN" [e]="$PLUGIN")

fail() {
  echo "bench: $*" >&2
  [ -s "$WORK/out" ] && { echo "--- plugin stdout:" >&2; cat "$WORK/out" >&2; echo >&2; }
  exit 1
}

# One CNI call; stdout goes to $WORK/out, stderr passes through.
cni() { # command scenario cycle
  CNI_COMMAND=$1 CNI_CONTAINERID="bench-$2-$3" CNI_NETNS="/run/netns/$CTR_PREFIX$2$3" \
    CNI_IFNAME=eth0 CNI_PATH="$CNI_DIR" "${bin[$2]}" <"${conf[$2]}" >"$WORK/out"
}

: >"$WORK/cycles.tsv"
total=$((WARMUP + N))
for ((i = 1; i <= total; i++)); do
  # the order rotates each cycle, so drift in the machine's load hits every scenario alike
  for ((k = 0; k < 3; k++)); do
    # the clock is bash's $EPOCHREALTIME (microseconds), read without starting a process
    s=${scenarios[$(((i + k) % 3))]}
    t0=${EPOCHREALTIME/[.,]/}
    cni ADD "$s" "$i" || fail "ADD of scenario $s, cycle $i failed (exit $?)"
    t1=${EPOCHREALTIME/[.,]/}
    cni DEL "$s" "$i" || fail "DEL of scenario $s, cycle $i failed (exit $?)"
    t2=${EPOCHREALTIME/[.,]/}
    if ((i > WARMUP)); then
      printf '%s\t%d\t%d\t%d\n' "$s" $((i - WARMUP)) $((10#$t1 - 10#$t0)) $((10#$t2 - 10#$t1)) >>"$WORK/cycles.tsv"
    fi
  done
done

# Peak RSS of ADD. /usr/bin/time -v reports the largest RSS of the process *and* the
# children it waited for (getrusage semantics), so for a plugin that runs others (bridge
# runs host-local; dcos-l4lb runs bridge and host-local) it is the tree's peak. The
# plugin's own VmHWM is sampled from /proc/<pid>/status until it exits (a lower bound:
# the last sample before exit).
own_hwm() { # pid -> prints the last VmHWM seen (KiB)
  local pid=$1 hwm=0 key value rest seen
  while :; do
    seen=
    while read -r key value rest; do
      [ "$key" = VmHWM: ] && { hwm=$value; seen=1; }
    done 2>/dev/null <"/proc/$pid/status"
    [ -n "$seen" ] || break
  done
  echo "$hwm"
}

: >"$WORK/rss.tsv"
for s in a c; do
  for ((r = 1; r <= RSS_RUNS; r++)); do
    cycle=$((total + r))
    # the tree's peak, from /usr/bin/time -v
    CNI_COMMAND=ADD CNI_CONTAINERID="bench-$s-$cycle" CNI_NETNS="/run/netns/$CTR_PREFIX$s$cycle" \
      CNI_IFNAME=eth0 CNI_PATH="$CNI_DIR" /usr/bin/time -v -o "$WORK/time.txt" "${bin[$s]}" \
      <"${conf[$s]}" >"$WORK/out" || fail "ADD of scenario $s (RSS run $r) failed"
    tree=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt")
    cni DEL "$s" "$cycle" || fail "DEL of scenario $s (RSS run $r) failed"
    # the process's own peak, sampled
    CNI_COMMAND=ADD CNI_CONTAINERID="bench-$s-$cycle" CNI_NETNS="/run/netns/$CTR_PREFIX$s$cycle" \
      CNI_IFNAME=eth0 CNI_PATH="$CNI_DIR" "${bin[$s]}" <"${conf[$s]}" >"$WORK/out" &
    pid=$!
    own=$(own_hwm $pid)
    wait $pid || fail "ADD of scenario $s (sampled RSS run $r) failed"
    cni DEL "$s" "$cycle" || fail "DEL of scenario $s (sampled RSS run $r) failed"
    printf 'ADD\t%s\t%s\t%s\n' "$s" "$tree" "$own" >>"$WORK/rss.tsv"
  done
done

# Where (c)'s time goes: the same cycles with DCOS_L4LB_LOG_FILE set, which makes the
# plugin log each effect with its duration. Not part of the timed comparison above (the
# log costs a little), so these cycles have their own namespaces (scenario "e").
: >"$WORK/logged.tsv"
export DCOS_L4LB_LOG_FILE="$WORK/effects.log"
for ((r = 1; r <= LOG_RUNS; r++)); do
  t0=${EPOCHREALTIME/[.,]/}
  cni ADD e "$r" || fail "ADD with the effect log (cycle $r) failed"
  t1=${EPOCHREALTIME/[.,]/}
  cni DEL e "$r" || fail "DEL with the effect log (cycle $r) failed"
  t2=${EPOCHREALTIME/[.,]/}
  printf '%d\t%d\t%d\n' "$r" $((10#$t1 - 10#$t0)) $((10#$t2 - 10#$t1)) >>"$WORK/logged.tsv"
done
unset DCOS_L4LB_LOG_FILE
