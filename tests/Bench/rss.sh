#!/usr/bin/env bash
# What a VERSION's peak RSS is made of, side by side: for each binary, the memory it has
# mapped just before it exits (/proc/PID/smaps_rollup), held there by strace, which
# delays its exit_group system call by a second. Works for Go programs too.
#
#   bash tests/Bench/rss.sh [NAME=]BINARY ...   # default: bin/dcos-l4lb and /usr/lib/cni/bridge
#
# Rss counts every mapped page, those shared with other processes (libc's) in full; Pss
# divides each shared page among the processes that map it; private dirty is memory that
# is the process's alone. A binary written moments ago still has dirty page-cache pages,
# which count as private dirty: it is synced first.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v strace >/dev/null || { echo "rss.sh needs strace (apt-get install strace)" >&2; exit 1; }
[ $# -gt 0 ] || set -- dcos-l4lb=bin/dcos-l4lb bridge=/usr/lib/cni/bridge
sync

printf '%-12s %8s %8s %14s %14s   (KiB)\n' name Rss Pss "shared clean" "private dirty"
for arg in "$@"; do
  name=${arg%%=*}
  binary=${arg#*=}
  [ "$name" = "$arg" ] && name=$(basename "$arg")
  echo '{"cniVersion":"1.0.0"}' | env -i CNI_COMMAND=VERSION \
    strace -o /dev/null -e trace=exit_group -e inject=exit_group:delay_enter=1000000 "$binary" > /dev/null &
  tracer=$!
  pid=""
  for _ in $(seq 50); do
    pid=$(pgrep -P "$tracer" || true)
    [ -n "$pid" ] && break
    sleep 0.01
  done
  sleep 0.5 # VERSION is done in milliseconds; the exit is held for a second
  awk -v name="$name" '
    /^Rss:/ { rss = $2 } /^Pss:/ { pss = $2 } /^Shared_Clean:/ { shared = $2 } /^Private_Dirty:/ { dirty = $2 }
    END { printf "%-12s %8d %8d %14d %14d\n", name, rss, pss, shared, dirty }' "/proc/$pid/smaps_rollup"
  # and its Rss by what is mapped: the image, each library, anonymous memory
  awk -v image="$(realpath "$binary")" '
    /^[0-9a-f]+-[0-9a-f]+ / { m = ($6 == "") ? "[anon]" : $6; if (m == image) m = "(image)"; sub(".*/", "", m); next }
    /^Rss:/ { if ($2 > 0) by[m] += $2 }
    END { line = ""; for (m in by) line = line sprintf("%s %d, ", m, by[m]); print "             " substr(line, 1, length(line) - 2) }' "/proc/$pid/smaps"
  wait "$tracer"
done
