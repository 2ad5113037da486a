# Sourced by every script of tests/Bench/floor: where things are built, kept and found.
#   FLOOR_OUT  builds and results (default out/bench-floor in the repository, which git
#              ignores); build.sh fills it, the measurements read from it
#   PLUGIN     the dcos-l4lb measured (default bin/dcos-l4lb); each run measures a copy
#   CNI_DIR    the reference plugins (default /usr/lib/cni)
floor=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$floor/../../.." && pwd)
FLOOR_OUT=$(realpath -m "${FLOOR_OUT:-$repo/out/bench-floor}")
PLUGIN=$(realpath -m "${PLUGIN:-$repo/bin/dcos-l4lb}")
CNI_DIR=${CNI_DIR:-/usr/lib/cni}
VERSION_JSON=$floor/version.json

# Others rebuild bin/dcos-l4lb while runs go on: a copy in the run's directory keeps one
# binary for the whole run and records which one it was.
plugin_copy() { # OUTDIR -> prints the copy's path
  [ -x "$PLUGIN" ] || { echo "$(basename "$0"): $PLUGIN is missing (make build, or set PLUGIN)" >&2; exit 1; }
  cp "$PLUGIN" "$1/dcos-l4lb" && echo "$1/dcos-l4lb"
}
need_built() { # FILE... : what build.sh makes
  local f
  for f; do [ -x "$f" ] || { echo "$(basename "$0"): $f is missing (bash tests/Bench/floor/build.sh)" >&2; exit 1; }; done
}
need_tools() { # COMMAND...
  local t
  for t; do command -v "$t" >/dev/null || { echo "$(basename "$0") needs $t (apt-get install it)" >&2; exit 1; }; done
}
need_root() {
  [ "$(id -u)" -eq 0 ] || { echo "$(basename "$0") needs root: it creates network namespaces" >&2; exit 1; }
}
