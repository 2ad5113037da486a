#!/usr/bin/env bash
# The plugin's Native AOT publish must carry no trim or AOT warning at all, FSharp.Core's
# included. FSharp.Core is not trim-annotated; its printf, %A structured formatting and
# FSharp.Reflection code warn as soon as anything the plugin runs reaches them. None of it
# may: besides the warnings, printf alone adds about 350 k instructions
# to every start (docs/performance.md). The build already treats these warnings as errors; this audit
# republishes with them as warnings, so that it can list every one.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

dotnet publish src/Host -c Release -o out/audit -p:TreatWarningsAsErrors=false \
  -p:IntermediateOutputPath=obj/audit/ > "$log" 2>&1
rc=$?
warnings=$(grep -aE 'warning (IL|CS|FS)[0-9]+' "$log" | sort -u | grep -a . || true)

if [ "$rc" -ne 0 ]; then
  tail -n 20 "$log"
  echo "aot-audit: 0 passed, 1 failed"
elif [ -n "$warnings" ]; then
  echo "trim/AOT warnings in the plugin's publish:"
  echo "$warnings"
  echo "aot-audit: 0 passed, 1 failed"
else
  echo "aot-audit: no trim/AOT warning in the plugin's publish"
  echo "aot-audit: 1 passed, 0 failed"
fi
