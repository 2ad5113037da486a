#!/usr/bin/env bash
# Start-up cost of one or more plugin binaries, side by side: CNI_COMMAND=VERSION, which
# does no I/O beyond printing its reply, so it is the fixed cost every ADD and DEL pays.
#
#   bash tests/Bench/startup.sh [NAME=]BINARY ...
#
# For each binary: file size; instructions executed (valgrind --tool=callgrind, the least
# of 3 runs; skipped for Go binaries, which valgrind cannot run); page faults (perf stat)
# and peak RSS (/usr/bin/time), medians of 5 runs; and wall time with hyperfine -N, in
# ROUNDS rounds (default 5; 0: counts only) of RUNS runs (default 100) that rotate the
# binaries' order, so load that comes and goes hits each alike. Reported: the median and
# the p25-p75 of all runs, and the minimum. Environment knobs such as DOTNET_GCgen0size
# can be given as NAME=env:VAR=VALUE:BINARY (e.g. gen0=env:DOTNET_GCgen0size=400000:bin/dcos-l4lb;
# Native AOT reads these values as hexadecimal without 0x).
#
# The counts do not depend on the machine's load, but on two other things, which are fixed
# here: the environment (each is run with CNI_COMMAND=VERSION alone: the plugin reads all
# of it), and the number of mounts (the .NET runtime parses /proc/self/mountinfo at start;
# on a machine where other work keeps hundreds of network namespaces, that alone adds 1 M
# instructions). As root, they run in a private mount namespace without the
# /run/netns mounts.
set -euo pipefail
ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-100}
[ $# -gt 0 ] || { echo "usage: $0 [NAME=]BINARY ..." >&2; exit 2; }
for tool in hyperfine jq; do
  command -v "$tool" >/dev/null || { echo "startup.sh needs $tool (apt-get install $tool)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/dcos-l4lb-startup.XXXXXX)
trap 'rm -rf "$work"' EXIT

names=() cmds=() bins=()
for arg in "$@"; do
  name=${arg%%=*}
  rest=${arg#*=}
  [ "$name" = "$arg" ] && { name=$(basename "$arg"); rest=$arg; }
  envset=""
  if [[ $rest == env:* ]]; then
    rest=${rest#env:}
    envset=${rest%%:*}
    rest=${rest#*:}
  fi
  [ -x "$rest" ] || { echo "startup.sh: $rest is not an executable" >&2; exit 1; }
  names+=("$name") bins+=("$rest")
  if [ -n "$envset" ]; then cmds+=("env $envset $rest"); else cmds+=("$rest"); fi
done
export CNI_COMMAND=VERSION

# one run of a command for the counts: the environment fixed, and as root without the
# network-namespace mounts of other work
counted() {
  if [ "$(id -u)" -eq 0 ]; then
    unshare -m --propagation private bash -c '
      awk '"'"'$5 ~ "^(/var)?/run/netns/" { print $5 }'"'"' /proc/self/mountinfo | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null; done
      exec env -i CNI_COMMAND=VERSION "$@"' counted "$@"
  else
    env -i CNI_COMMAND=VERSION "$@"
  fi
}

stats() { # stdin: numbers -> "median p25 p75 min"
  sort -g | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.3f %.3f %.3f %.3f\n", m, v[int((NR - 1) * 0.25) + 1], v[int((NR - 1) * 0.75 + 0.999999) + 1], v[1] }'
}

n=${#names[@]}
((ROUNDS > 0)) || RUNS=0
for ((r = 1; r <= ROUNDS; r++)); do
  order=()
  for ((k = 0; k < n; k++)); do order+=("${cmds[$(((k + r) % n))]}"); done
  hyperfine -N --style none --warmup 10 --runs "$RUNS" --export-json "$work/round-$r.json" "${order[@]}" >/dev/null 2>"$work/hyperfine.err" ||
    { cat "$work/hyperfine.err" >&2; exit 1; }
done

echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-14s %10s %12s %7s %8s   %s\n' name bytes instructions faults "RSS KiB" "VERSION ms: median [p25-p75] (min)"
for ((k = 0; k < n; k++)); do
  cmd=${cmds[$k]}
  size=$(stat -c %s "${bins[$k]}")
  if grep -qa 'Go buildinf:' "${bins[$k]}"; then
    ir="(Go)"
  else
    # shellcheck disable=SC2086
    ir=$(for i in 1 2 3; do
      # shellcheck disable=SC2086
      counted valgrind --tool=callgrind --callgrind-out-file=/dev/null $cmd </dev/null 2>&1 >/dev/null |
        awk '/Collected/ { print $4 }' || true
    done | sort -n | head -n 1)
  fi
  faults=$(for i in 1 2 3 4 5; do
    # shellcheck disable=SC2086
    counted perf stat -x, -e page-faults $cmd </dev/null 2>&1 >/dev/null | awk -F, '/page-faults/ { print $1 }' || true
  done | stats | cut -d' ' -f1)
  rss=$(for i in 1 2 3 4 5; do
    # shellcheck disable=SC2086
    counted /usr/bin/time -f %M $cmd </dev/null 2>&1 >/dev/null | tail -n 1 || true
  done | stats | cut -d' ' -f1)
  if ((ROUNDS > 0)); then
    read -r med q1 q3 min <<<"$(jq -r --arg c "$cmd" '.results[] | select(.command == $c) | .times[] | . * 1000' "$work"/round-*.json | stats)"
    wall=$(printf '%.2f [%.2f-%.2f] (%.2f)' "$med" "$q1" "$q3" "$min")
  else
    wall="-"
  fi
  printf '%-14s %10s %12s %7.0f %8.0f   %s\n' "${names[$k]}" "$size" "${ir:-?}" "${faults:-0}" "${rss:-0}" "$wall"
done
