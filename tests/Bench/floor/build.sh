#!/usr/bin/env bash
# Builds what the floor measurements run, into $FLOOR_OUT (default out/bench-floor):
#   runner                    interleaved start-up timer (runner.c)
#   nldel                     one RTM_DELLINK, timed in the kernel (netns/nldel.c)
#   c/version-dyn, -static    the C floor of a VERSION (c/version.c)
#   aot/out/<variant>/floor   the minimal Native AOT VERSION responders (aot/build.sh)
#   bash tests/Bench/floor/build.sh [AOT_VARIANT...]     (none: every variant)
set -euo pipefail
. "$(dirname "$0")/env.sh"
need_tools gcc dotnet
mkdir -p "$FLOOR_OUT/c"
gcc -O2 -o "$FLOOR_OUT/runner" "$floor/runner.c"
gcc -O2 -o "$FLOOR_OUT/nldel" "$floor/netns/nldel.c"
gcc -O2 -o "$FLOOR_OUT/c/version-dyn" "$floor/c/version.c"
# the static one needs glibc's libc.a (Debian: libc6-dev)
gcc -O2 -static -o "$FLOOR_OUT/c/version-static" "$floor/c/version.c"
echo "built $FLOOR_OUT/{runner,nldel,c/version-dyn,c/version-static}"
bash "$floor/aot/build.sh" "$@"
