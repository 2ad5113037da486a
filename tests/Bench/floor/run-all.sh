#!/usr/bin/env bash
# Every measurement of the report once, in sequence, into $FLOOR_OUT/results/<TAG>-*/:
# version.sh, netns/delegate.sh (+ ratios.sh), netns/veth.sh, netns/hostlocal.sh. One copy
# of $PLUGIN (default bin/dcos-l4lb) serves all of them. Builds are separate (build.sh).
#   [N=50] [RUNS=300] bash tests/Bench/floor/run-all.sh TAG      (root)
set -euo pipefail
. "$(dirname "$0")/env.sh"
T=${1:?usage: run-all.sh TAG}
N=${N:-50}; RUNS=${RUNS:-300}
R=$FLOOR_OUT/results
mkdir -p "$R"
cp "$PLUGIN" "$R/$T-dcos-l4lb"
export PLUGIN=$R/$T-dcos-l4lb
bash "$floor/version.sh" "$RUNS" "$R/$T-version" 2>/dev/null | tail -30
bash "$floor/netns/delegate.sh" "$N" "$R/$T-delegate" | tail -13
bash "$floor/netns/veth.sh" "$N" "$R/$T-veth" | tail -28
bash "$floor/netns/hostlocal.sh" "$N" "$R/$T-hostlocal" | tail -10
bash "$floor/ratios.sh" "$R/$T-delegate" "$R/$T-hostlocal"
