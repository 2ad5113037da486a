#!/usr/bin/env bash
# What a VERSION's peak RSS is made of: the plugin's mappings as /proc/self/smaps shows
# them when it exits, summed by what is mapped (the image, each library, heap, stacks).
# A small preloaded library dumps smaps from a destructor, which runs at exit(3);
# Go programs do not exit through libc, so this works for dcos-l4lb, not for bridge.
#
#   bash tests/Bench/rss.sh [BINARY]      # default bin/dcos-l4lb; needs gcc
#
# The binary is copied to a directory on the root file system first and synced:
# smaps counts a page that is still dirty in the page cache (a file just written, or a
# file on tmpfs) as private dirty memory.
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=$(realpath "${1:-bin/dcos-l4lb}")
command -v gcc >/dev/null || { echo "rss.sh needs gcc" >&2; exit 1; }
mkdir -p out
work=$(mktemp -d "$PWD/out/rss.XXXXXX")
trap 'rm -rf "$work"' EXIT

cat > "$work/dump.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
__attribute__((destructor)) static void dump(void) {
  const char *out = getenv("SMAPS_OUT");
  if (!out) return;
  FILE *in = fopen("/proc/self/smaps", "r"), *o = fopen(out, "w");
  if (!in || !o) return;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, o);
  fclose(in);
  fclose(o);
}
C
gcc -shared -fPIC -O2 -o "$work/dump.so" "$work/dump.c"
cp "$binary" "$work/plugin"
sync
echo '{"cniVersion":"1.0.0"}' | env -i CNI_COMMAND=VERSION SMAPS_OUT="$work/smaps" LD_PRELOAD="$work/dump.so" "$work/plugin" > /dev/null

# sum Rss and Private_Dirty (KiB) per mapped file, anonymous mappings together
awk -v image="$work/plugin" '
  /^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "") ? "[anon]" : $6; if (name == image) name = "(the-plugin-image)"; sub(".*/", "", name); next }
  /^Rss:/ { rss[name] += $2; total += $2 }
  /^Private_Dirty:/ { dirty[name] += $2; dtotal += $2 }
  END {
    printf "%-28s %10s %14s\n", "mapping", "Rss KiB", "private dirty"
    for (n in rss) if (rss[n] > 0) printf "%-28s %10d %14d\n", n, rss[n], dirty[n] | "sort -k2 -nr"
    close("sort -k2 -nr")
    printf "%-28s %10d %14d\n", "total", total, dtotal
  }' "$work/smaps"
