#!/usr/bin/env bash
# Where one invocation of the plugin spends its instructions and system calls: VERSION,
# ADD and DEL (README config, Minuteman off, bridge as delegate) under valgrind's callgrind
# (instructions of the plugin's own process; the plugins it runs are not traced), and the
# system calls of an ADD with strace -c (the plugin's process and threads only).
#
#   sudo bash tests/Bench/profile.sh [BINARY] [OUTDIR]
#
# BINARY defaults to bin/dcos-l4lb. With OUTDIR, the callgrind files are kept there
# (callgrind.version, callgrind.add, callgrind.del) for callgrind_annotate; function names
# need a binary with its symbol table: publish with -p:StripSymbols=false, then
# `objcopy --strip-debug` the result, because this valgrind cannot read the DWARF that the
# AOT compiler writes (and drop the .dbg file next to a stripped binary for the same reason).
# Namespaces and the private /var/lib are made as in bench.sh, and always removed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
BIN=$(realpath "${1:-$repo/bin/dcos-l4lb}")
OUT=${2:-}
CNI_DIR=${CNI_DIR:-/usr/lib/cni}

[ "$(id -u)" -eq 0 ] || { echo "profile.sh needs root (network namespaces)" >&2; exit 1; }
for tool in valgrind strace callgrind_annotate; do
  command -v "$tool" >/dev/null || { echo "profile.sh needs $tool (apt-get install valgrind strace)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/dcos-l4lb-profile.XXXXXX)
agent="l4p$$-agent"
ctr="l4p$$-ctr"
cleanup() {
  ip netns del "$ctr" 2>/dev/null || true
  ip netns del "$agent" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$agent"
ip netns add "$ctr"
[ -n "$OUT" ] && mkdir -p "$OUT"

cat >"$work/conf.json" <<'JSON'
{ "cniVersion": "0.2.0", "name": "spartan-net", "type": "dcos-l4lb",
  "minuteman": { "enable": false },
  "delegate": { "type": "bridge", "bridge": "sprt-cni0", "ipMasq": false, "isGateway": true,
    "ipam": { "type": "host-local", "subnet": "192.168.30.0/24", "routes": [ { "dst": "10.0.0.0/8" } ] } } }
JSON

cat >"$work/inner.sh" <<'INNER'
set -euo pipefail
mkdir -p /var/lib/cni
ip link set lo up
run() { # name command tool...
  local name=$1 command=$2
  shift 2
  CNI_COMMAND=$command CNI_CONTAINERID=profile-1 CNI_NETNS=/run/netns/$CTR CNI_IFNAME=eth0 \
    CNI_PATH=$CNI_DIR "$@" "$BIN" <"$WORK/conf.json" >"$WORK/$name.out"
}
cg() { # name command
  run "$1" "$2" valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.$1" 2>"$WORK/$1.valgrind"
  printf '%-8s %12s instructions\n' "$1" "$(awk '/Collected/ { print $4 }' "$WORK/$1.valgrind")"
}
cg version VERSION
cg add ADD
cg del DEL
# the system calls of an ADD, one trace file per thread and per child process (-ff)
run add2 ADD strace -ff -T -o "$WORK/strace"
run del2 DEL
INNER

# The .NET runtime parses /proc/self/mountinfo at start: without the network-namespace
# mounts of other work on the machine (hundreds, at times), the counts stay comparable.
export WORK=$work BIN CNI_DIR CTR=$ctr AGENT=$agent
unshare --mount --propagation private bash -c '
  awk '"'"'$5 ~ "^(/var)?/run/netns/" { print $5 }'"'"' /proc/self/mountinfo | sort -r |
    while read -r m; do case $m in */$AGENT|*/$CTR) ;; *) umount -l "$m" 2>/dev/null ;; esac; done
  mount -t tmpfs dcos-l4lb-profile /var/lib &&
  exec ip netns exec "$0" bash "$1"' "$agent" "$work/inner.sh"

# The plugin's own threads: the process that exec'd the binary, and every thread it (or
# one of its threads) made with CLONE_THREAD. Other clones are child processes (the
# delegate and IPAM plugins, with all their threads), which are not counted.
main=$(grep -l "^execve(\"$BIN\"" "$work"/strace.* | head -n 1)
own=("$main") queue=("$main") children=0
while [ ${#queue[@]} -gt 0 ]; do
  f=${queue[0]}
  queue=("${queue[@]:1}")
  for tid in $(awk '/^clone3?\(/ && /CLONE_THREAD/ && / = [0-9]+/ { sub(/.* = /, ""); print $1 }' "$f"); do
    [ -f "$work/strace.$tid" ] && own+=("$work/strace.$tid") queue+=("$work/strace.$tid")
  done
  children=$((children + $(awk '/^(clone3?|vfork|fork)\(/ && !/CLONE_THREAD/ && / = [0-9]+/' "$f" | wc -l)))
done
echo
echo "== system calls of one ADD in the plugin's own process (${#own[@]} threads; $children child processes not counted)"
awk '/^[a-z_0-9]+\(/ {
       name = substr($0, 1, index($0, "(") - 1); n[name]++
       if (match($0, /<[0-9.]+>$/)) t[name] += substr($0, RSTART + 1, RLENGTH - 2)
     }
     END { for (k in n) { printf "%8d %10.6f  %s\n", n[k], t[k], k; calls += n[k]; secs += t[k] }
           printf "%8d %10.6f  total (calls, seconds inside system calls)\n", calls, secs }' "${own[@]}" |
  sort -k1,1nr | head -n 30
if [ -n "$OUT" ]; then
  cp "$work"/callgrind.* "$OUT"/
  echo
  echo "callgrind files in $OUT; e.g. callgrind_annotate --inclusive=yes $OUT/callgrind.add | head -60"
fi
