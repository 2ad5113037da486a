#!/usr/bin/env bash
# Whole-process measurements of dcos-l4lb next to the reference plugins, in one run:
#
#   (a) bridge alone (host-local IPAM): exactly the delegate config that (c) hands to bridge
#   (b) ptp alone (host-local IPAM): one veth attachment, the yardstick for our overhead
#   (c) bin/dcos-l4lb delegating to bridge, Spartan on, Minuteman off
#
# Each cycle is one ADD and one DEL of a fresh container netns, timed around the two
# process runs. The plugins run directly in an "agent" netns that this script creates,
# inside one `unshare --mount` whose /var/lib is a private tmpfs (host-local's state, the
# Spartan IPAM's included, never touches the machine's /var/lib/cni). Every namespace is
# created before timing and deleted on exit, also after a failure or ^C.
#
# Then: VERSION latency of dcos-l4lb and bridge with hyperfine (several rounds, medians),
# once at normal priority and once at SCHED_FIFO priority (chrt -f 50), where the machine's
# other load cannot preempt the runs; and peak RSS of both for VERSION and for an ADD.
#
# Run as root:  bash tests/Bench/bench.sh          (or: make bench)
# Knobs (environment): N (cycles, default 30), WARMUP (2), ROUNDS (3), RUNS (200 runs per
# command and round), RSS_RUNS (5), LOG_RUNS (10 cycles of (c) with the effect log, for the
# breakdown of where (c)'s time goes), PLUGIN (default bin/dcos-l4lb), CNI_DIR (/usr/lib/cni),
# IPMASQ (false; true gives bridge and ptp "ipMasq": true as in the README's example),
# BENCH_OUT (a directory to keep the raw results in), SPARTAN_IPAM (ipam-stub: (c)'s Spartan
# IPAM is tests/Bench/floor/netns/ipam-stub.c, which does no work, instead of host-local:
# what an in-process allocator could gain; needs a C compiler).
# The last lines are the figures against the targets of docs/performance.md: overhead
# (c - a) / b at most 0.5, VERSION at most 0.85 of bridge's, peak RSS of VERSION at most
# bridge's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

N=${N:-30}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-200}
RSS_RUNS=${RSS_RUNS:-5}
LOG_RUNS=${LOG_RUNS:-10}
PLUGIN=${PLUGIN:-$repo/bin/dcos-l4lb}
CNI_DIR=${CNI_DIR:-/usr/lib/cni}
IPMASQ=${IPMASQ:-false}
BENCH_OUT=${BENCH_OUT:-}
SPARTAN_IPAM=${SPARTAN_IPAM:-}

if [ "$(id -u)" -ne 0 ]; then
  echo "bench.sh needs root: it creates network namespaces (try: sudo make bench)" >&2
  exit 1
fi
if ((N < 20)); then
  echo "bench.sh: N=$N; use at least 20 cycles for a median worth reporting" >&2
  exit 1
fi

# Debian packages: hyperfine, GNU time (/usr/bin/time), jq for hyperfine's JSON, ip and
# unshare, and the reference plugins.
missing=""
for p in hyperfine time jq iproute2 util-linux containernetworking-plugins; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
for f in "$PLUGIN" "$CNI_DIR/bridge" "$CNI_DIR/ptp" "$CNI_DIR/host-local"; do
  [ -x "$f" ] || { echo "bench.sh: $f is missing (make build; apt-get install containernetworking-plugins)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/dcos-l4lb-bench.XXXXXX)
agent="l4b$$-agent"
CTR_PREFIX="l4b$$-"
created=()
cleanup() {
  local ns
  for ns in "${created[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if [ -n "$BENCH_OUT" ] && [ -d "$WORK" ]; then
    mkdir -p "$BENCH_OUT" && cp "$WORK"/*.tsv "$WORK"/*.json "$WORK"/*ratios.txt "$WORK"/summary.txt "$BENCH_OUT"/ 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(loadavg)

# ---- configurations ------------------------------------------------------------------
spartan=""
if [ -n "$SPARTAN_IPAM" ]; then
  [ "$SPARTAN_IPAM" = ipam-stub ] || { echo "bench.sh: SPARTAN_IPAM is ipam-stub or unset" >&2; exit 1; }
  command -v cc >/dev/null || { echo "bench.sh: SPARTAN_IPAM=ipam-stub needs a C compiler (apt-get install gcc)" >&2; exit 1; }
  # the reference plugins and the stub, in a directory of the run's own
  mkdir "$WORK/cni" && ln -s "$CNI_DIR"/* "$WORK/cni/"
  cc -O2 -o "$WORK/cni/ipam-stub" "$here/floor/netns/ipam-stub.c"
  CNI_DIR=$WORK/cni
  spartan='"spartan": { "ipam": { "type": "ipam-stub" } },'
fi
ipam='{ "type": "host-local", "subnet": "192.168.30.0/24", "routes": [ { "dst": "10.0.0.0/8" } ] }'
delegate="{ \"type\": \"bridge\", \"bridge\": \"sprt-cni0\", \"ipMasq\": $IPMASQ, \"isGateway\": true, \"ipam\": $ipam }"
# (c): the README's example, Minuteman off
cat >"$WORK/c-l4lb.json" <<JSON
{ "cniVersion": "0.2.0", "name": "spartan-net", "type": "dcos-l4lb",
  "minuteman": { "enable": false }, $spartan
  "delegate": $delegate }
JSON
# (a): what dcos-l4lb hands to bridge: the delegate object with the outer name and cniVersion
jq -c '.delegate + { name: .name, cniVersion: .cniVersion }' "$WORK/c-l4lb.json" >"$WORK/a-bridge.json"
# (b): ptp with host-local on its own subnet
cat >"$WORK/b-ptp.json" <<JSON
{ "cniVersion": "0.2.0", "name": "bench-ptp", "type": "ptp", "ipMasq": $IPMASQ,
  "ipam": { "type": "host-local", "subnet": "192.168.40.0/24", "routes": [ { "dst": "10.0.0.0/8" } ] } }
JSON

# ---- namespaces, all made before any timing -------------------------------------------
ip netns add "$agent" && created+=("$agent")
total=$((WARMUP + N))
for s in a b c; do
  for ((i = 1; i <= total; i++)); do ip netns add "$CTR_PREFIX$s$i" && created+=("$CTR_PREFIX$s$i"); done
done
for s in a c; do
  for ((r = 1; r <= RSS_RUNS; r++)); do
    ip netns add "$CTR_PREFIX$s$((total + r))" && created+=("$CTR_PREFIX$s$((total + r))")
  done
done
for ((r = 1; r <= LOG_RUNS; r++)); do ip netns add "${CTR_PREFIX}e$r" && created+=("${CTR_PREFIX}e$r"); done

# ---- ADD+DEL cycles: one mount namespace, one `ip netns exec`, all cycles inside --------
echo "== $N ADD+DEL cycles per scenario (+$WARMUP warm-up), interleaved; load average $(loadavg)"
export WORK N WARMUP PLUGIN CNI_DIR CTR_PREFIX RSS_RUNS LOG_RUNS
unshare --mount --propagation private bash -c '
  mount -t tmpfs dcos-l4lb-bench /var/lib &&
  exec ip netns exec "$0" bash "$1"' "$agent" "$here/inner.sh"
load_cycles=$(loadavg)

# ---- statistics ------------------------------------------------------------------------
# stdin: one number per line. Prints "median p25 p75 min max n" (nearest-rank quartiles).
stats() {
  sort -g | awk '{ v[NR] = $1 }
    END {
      if (NR == 0) { print "nan nan nan nan nan 0"; exit }
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      q1 = v[int((NR - 1) * 0.25) + 1]; q3 = v[int((NR - 1) * 0.75 + 0.999999) + 1]
      printf "%.6g %.6g %.6g %.6g %.6g %d\n", m, q1, q3, v[1], v[NR], NR }'
}
col() { awk -v s="$1" -v f="$2" -F'\t' '$1 == s { print ($f) / 1000 }' "$WORK/cycles.tsv"; } # ms
cycle_ms() { awk -v s="$1" -F'\t' '$1 == s { print ($3 + $4) / 1000 }' "$WORK/cycles.tsv"; }
fmt() { awk '{ printf "%.2f [%.2f-%.2f]", $1, $2, $3 }'; }

read -r a_med _ <<<"$(cycle_ms a | stats)"
read -r b_med _ <<<"$(cycle_ms b | stats)"
read -r c_med _ <<<"$(cycle_ms c | stats)"
overhead=$(awk -v a="$a_med" -v b="$b_med" -v c="$c_med" 'BEGIN { printf "%.2f", (c - a) / b }')
# the same ratio per cycle index (the three scenarios of one cycle ran back to back)
per_cycle=$(awk -F'\t' '{ t[$1, $2] = ($3 + $4) } END {
    for (k in t) { split(k, p, SUBSEP); if (p[1] == "a" && (("b", p[2]) in t) && (("c", p[2]) in t))
      print (t["c", p[2]] - t["a", p[2]]) / t["b", p[2]] } }' "$WORK/cycles.tsv" | stats)
read -r pc_med pc_q1 pc_q3 _ <<<"$per_cycle"

# ---- VERSION latency -------------------------------------------------------------------
echo "== VERSION: $ROUNDS rounds of $RUNS runs per command (hyperfine -N); load average $(loadavg)"
: >"$WORK/version-ratios.txt"
for ((r = 1; r <= ROUNDS; r++)); do
  # alternate which command goes first, so neither always runs in the same phase of load
  if ((r % 2)); then cmds=("$PLUGIN" "$CNI_DIR/bridge"); else cmds=("$CNI_DIR/bridge" "$PLUGIN"); fi
  CNI_COMMAND=VERSION hyperfine -N --style none --warmup 20 --runs "$RUNS" \
    --export-json "$WORK/version-$r.json" "${cmds[@]}" >/dev/null
  jq -r --arg p "$PLUGIN" --arg b "$CNI_DIR/bridge" '
    ([.results[] | select(.command == $p) | .median][0]) / ([.results[] | select(.command == $b) | .median][0])' \
    "$WORK/version-$r.json" >>"$WORK/version-ratios.txt"
done
# the same at SCHED_FIFO priority 50: the machine's other (CFS) load cannot preempt these
# runs, so this ratio stays put from run to run on a busy machine (RT throttling still
# leaves other tasks 5% of each second)
: >"$WORK/version-rt-ratios.txt"
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then cmds=("$PLUGIN" "$CNI_DIR/bridge"); else cmds=("$CNI_DIR/bridge" "$PLUGIN"); fi
  CNI_COMMAND=VERSION chrt -f 50 hyperfine -N --style none --warmup 20 --runs "$RUNS" \
    --export-json "$WORK/version-rt-$r.json" "${cmds[@]}" >/dev/null
  jq -r --arg p "$PLUGIN" --arg b "$CNI_DIR/bridge" '
    ([.results[] | select(.command == $p) | .median][0]) / ([.results[] | select(.command == $b) | .median][0])' \
    "$WORK/version-rt-$r.json" >>"$WORK/version-rt-ratios.txt"
done
version_times() { jq -r --arg c "$1" '.results[] | select(.command == $c) | .times[] | . * 1000' "$WORK"/version-[0-9]*.json; }
version_rt_times() { jq -r --arg c "$1" '.results[] | select(.command == $c) | .times[] | . * 1000' "$WORK"/version-rt-*.json; }
read -r v_l4lb v_l4lb_q1 v_l4lb_q3 v_l4lb_min _ <<<"$(version_times "$PLUGIN" | stats)"
read -r v_bridge v_bridge_q1 v_bridge_q3 v_bridge_min _ <<<"$(version_times "$CNI_DIR/bridge" | stats)"
version_ratio=$(awk -v l="$v_l4lb" -v b="$v_bridge" 'BEGIN { printf "%.2f", l / b }')
round_ratios=$(awk '{ printf "%s%.2f", (NR > 1 ? " " : ""), $1 }' "$WORK/version-ratios.txt")
read -r vr_l4lb vr_l4lb_q1 vr_l4lb_q3 vr_l4lb_min _ <<<"$(version_rt_times "$PLUGIN" | stats)"
read -r vr_bridge vr_bridge_q1 vr_bridge_q3 vr_bridge_min _ <<<"$(version_rt_times "$CNI_DIR/bridge" | stats)"
version_rt_ratio=$(awk -v l="$vr_l4lb" -v b="$vr_bridge" 'BEGIN { printf "%.2f", l / b }')
rt_round_ratios=$(awk '{ printf "%s%.2f", (NR > 1 ? " " : ""), $1 }' "$WORK/version-rt-ratios.txt")
load_version=$(loadavg)

# ---- peak RSS --------------------------------------------------------------------------
version_rss() {
  for ((r = 1; r <= RSS_RUNS; r++)); do
    CNI_COMMAND=VERSION /usr/bin/time -v -o "$WORK/time.txt" "$1" </dev/null >/dev/null
    awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt"
  done | stats | cut -d' ' -f1
}
rss_version_l4lb=$(version_rss "$PLUGIN")
rss_version_bridge=$(version_rss "$CNI_DIR/bridge")
rss_col() { awk -v s="$1" -v f="$2" -F'\t' '$2 == s { print $f }' "$WORK/rss.tsv" | stats | cut -d' ' -f1; }
rss_add_tree_l4lb=$(rss_col c 3)
rss_add_tree_bridge=$(rss_col a 3)
rss_add_own_l4lb=$(rss_col c 4)
rss_add_own_bridge=$(rss_col a 4)

# ---- where (c)'s time goes, from the effect log ----------------------------------------
# Each log line: "<UTC time> dcos-l4lb[<pid>] <COMMAND> <container>: <effect> -> <outcome> (<ms> ms)",
# written when the effect ends. Effects are grouped by kind (netns paths, the derived host
# veth name, the container made generic). Effects overlap (the Spartan lane runs while the
# delegate runs), so each one's median is its own duration, and "rest of the process" is
# the ADD's or DEL's wall time less the time in which at least one effect ran (the union
# of their intervals): start-up, the core, reading and writing, exit.
breakdown() {
  [ -s "$WORK/effects.log" ] || return 0
  awk -v logged="$WORK/logged.tsv" '
    function median(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return n == 0 ? 0 : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)
    }
    # seconds since 1970 of an ISO 8601 UTC time (days from the civil date, H. Hinnant)
    function epoch(ts,   y, m, d, S, era, yoe, doy) {
      y = substr(ts, 1, 4) + 0; m = substr(ts, 6, 2) + 0; d = substr(ts, 9, 2) + 0
      S = substr(ts, 18); sub(/Z$/, "", S)
      if (m <= 2) y--
      era = int(y / 400); yoe = y - era * 400
      doy = int((153 * ((m + 9) % 12) + 2) / 5) + d - 1
      return (era * 146097 + yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy - 719468) * 86400 \
        + substr(ts, 12, 2) * 3600 + substr(ts, 15, 2) * 60 + S
    }
    # ms in which at least one of the intervals n of key k ran
    function busy(k, n,   i, j, ts, te, t, e, total, cs, ce) {
      for (i = 1; i <= n; i++) { ts[i] = from[k, i]; te[i] = to[k, i] }
      for (i = 2; i <= n; i++) {
        t = ts[i]; e = te[i]
        for (j = i - 1; j > 0 && ts[j] > t; j--) { ts[j + 1] = ts[j]; te[j + 1] = te[j] }
        ts[j + 1] = t; te[j + 1] = e
      }
      total = 0; cs = ts[1]; ce = te[1]
      for (i = 2; i <= n; i++) {
        if (ts[i] > ce) { total += ce - cs; cs = ts[i]; ce = te[i] } else if (te[i] > ce) ce = te[i]
      }
      return n == 0 ? 0 : (total + ce - cs) * 1000
    }
    BEGIN {
      while ((getline line < logged) > 0) {
        split(line, f, "\t"); wall["ADD", f[1]] = f[2] / 1000; wall["DEL", f[1]] = f[3] / 1000; cycles[f[1]] = 1
      }
    }
    / -> / && / ms\)$/ {
      cmd = $3; cyc = $4; sub(/^bench-e-/, "", cyc); sub(/:$/, "", cyc)
      ms = $(NF - 1); sub(/^\(/, "", ms)
      d = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ [^ ]+ /, "", d); sub(/ -> .*/, "", d)
      gsub(/\/run\/netns\/[^ ]+/, "<netns>", d); gsub(/spt[0-9a-f]+/, "<host veth>", d); gsub(/lock\.[0-9]+/, "lock.<n>", d); gsub(/\/bench-e-[0-9]+@/, "/<container>@", d)
      # the Spartan address leased for this cycle (the service addresses are .1 to .4)
      gsub(/198\.51\.100\.([1-9][0-9]|[12][0-9][0-9])([^0-9]|$)/, "<spartan address>&", d)
      gsub(/<spartan address>198\.51\.100\.[0-9]+/, "<spartan address>", d)
      key = cmd " " d; sum[key, cyc] += ms; keys[key] = 1
      t = epoch($1); n = ++count[cmd, cyc]; from[cmd SUBSEP cyc, n] = t - ms / 1000; to[cmd SUBSEP cyc, n] = t
    }
    END {
      for (k in keys) { n = 0; for (c in cycles) v[++n] = sum[k, c] + 0; printf "%s\t%s\n", k, median(v, n) }
      split("ADD DEL", cmds, " ")
      for (i = 1; i <= 2; i++) {
        n = 0; for (c in cycles) v[++n] = wall[cmds[i], c] - busy(cmds[i] SUBSEP c, count[cmds[i], c])
        printf "%s ~ rest of the process (start-up, core, I/O, exit)\t%s\n", cmds[i], median(v, n)
        n = 0; for (c in cycles) v[++n] = wall[cmds[i], c]
        printf "%s ~ whole process (wall)\t%s\n", cmds[i], median(v, n)
      }
    }' "$WORK/effects.log" | sort >"$WORK/breakdown.tsv"
  awk -F'\t' '{ printf "  %-76s %8.2f ms\n", $1, $2 }' "$WORK/breakdown.tsv"
}
# the median "rest of the process" of ADD plus that of DEL, in ms
rest_ms() { awk -F'\t' '/~ rest of the process/ { s += $2 } END { printf "%.2f", s }' "$WORK/breakdown.tsv" 2>/dev/null; }

# ---- report ----------------------------------------------------------------------------
{
  echo
  # the .NET runtime parses /proc/self/mountinfo at every start (about 1.6 k instructions a
  # mount): other work's network namespaces make dcos-l4lb's starts, not bridge's, slower
  echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r), $(wc -l </proc/self/mountinfo) mounts"
  echo "plugin: $PLUGIN ($(stat -c %s "$PLUGIN") bytes); reference plugins: $CNI_DIR; ipMasq: $IPMASQ; Spartan IPAM: ${SPARTAN_IPAM:-host-local}"
  echo "load average (1, 5, 15 min): start $load_start; after cycles $load_cycles; after VERSION $load_version"
  echo "ADD+DEL per cycle, ms, median [p25-p75] of $N cycles:"
  echo "  (a) bridge         $(cycle_ms a | stats | fmt)   ADD $(col a 3 | stats | fmt)   DEL $(col a 4 | stats | fmt)"
  echo "  (b) ptp            $(cycle_ms b | stats | fmt)   ADD $(col b 3 | stats | fmt)   DEL $(col b 4 | stats | fmt)"
  echo "  (c) dcos-l4lb      $(cycle_ms c | stats | fmt)   ADD $(col c 3 | stats | fmt)   DEL $(col c 4 | stats | fmt)"
  if [ "$LOG_RUNS" -gt 0 ]; then
    echo "(c) broken down, median ms over $LOG_RUNS cycles with DCOS_L4LB_LOG_FILE set (effects as the plugin timed them):"
    breakdown
  fi
  echo "VERSION, ms, median [p25-p75] (min) of $((ROUNDS * RUNS)) runs each:"
  printf '  normal priority:  dcos-l4lb %.2f [%.2f-%.2f] (%.2f)   bridge %.2f [%.2f-%.2f] (%.2f)\n' \
    "$v_l4lb" "$v_l4lb_q1" "$v_l4lb_q3" "$v_l4lb_min" "$v_bridge" "$v_bridge_q1" "$v_bridge_q3" "$v_bridge_min"
  printf '  SCHED_FIFO 50:    dcos-l4lb %.2f [%.2f-%.2f] (%.2f)   bridge %.2f [%.2f-%.2f] (%.2f)\n' \
    "$vr_l4lb" "$vr_l4lb_q1" "$vr_l4lb_q3" "$vr_l4lb_min" "$vr_bridge" "$vr_bridge_q1" "$vr_bridge_q3" "$vr_bridge_min"
  echo "peak RSS of ADD, process tree (/usr/bin/time -v, includes the plugins it runs): dcos-l4lb $rss_add_tree_l4lb KiB, bridge $rss_add_tree_bridge KiB"
  printf 'per-cycle (c-a)/b median %.2f [%.2f-%.2f]\n' "$pc_med" "$pc_q1" "$pc_q3"
  if [ "$LOG_RUNS" -gt 0 ] && [ -s "$WORK/breakdown.tsv" ]; then
    awk -v a="$a_med" -v b="$b_med" -v c="$c_med" -v r="$(rest_ms)" 'BEGIN {
      printf "overhead if dcos-l4lb'"'"'s own start-up, core and exit took no time ((c-a-%.2f)/b) = %.2f\n", r, (c - a - r) / b }'
  fi
  echo
  echo "== the figures, from this one run ($(date -u '+%Y-%m-%d %H:%M UTC'); load average at start $load_start, at end $load_version)"
  printf 'ADD+DEL cycle, median of %d:   (a) bridge %.2f ms   (b) ptp %.2f ms   (c) dcos-l4lb -> bridge %.2f ms\n' \
    "$N" "$a_med" "$b_med" "$c_med"
  verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t ? "met" : "missed") }'; }
  printf '%-44s %6s   target <= %-6s %s\n' "overhead (c - a) / b" "$overhead" 0.5 "$(verdict "$overhead" 0.5)"
  printf '%-44s %6s   target <= %-6s %s   [rounds: %s]\n' "VERSION / bridge's (normal priority)" "$version_ratio" 0.85 \
    "$(verdict "$version_ratio" 0.85)" "$round_ratios"
  printf '%-44s %6s   target <= %-6s %s   [rounds: %s]\n' "VERSION / bridge's (SCHED_FIFO, as if quiet)" "$version_rt_ratio" 0.85 \
    "$(verdict "$version_rt_ratio" 0.85)" "$rt_round_ratios"
  printf '%-44s %6s KiB, bridge %s KiB   target <= bridge   %s\n' "peak RSS of VERSION" "$rss_version_l4lb" "$rss_version_bridge" \
    "$(verdict "$rss_version_l4lb" "$rss_version_bridge")"
  printf '%-44s %6s KiB, bridge %s KiB\n' "peak RSS of ADD (own process)" "$rss_add_own_l4lb" "$rss_add_own_bridge"
} | tee "$WORK/summary.txt"
