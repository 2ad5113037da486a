#!/usr/bin/env bash
# The Native AOT publish folds FSharp.Core's trim/AOT warnings into two silenced summary
# codes (src/Host/Host.csproj). This audit republishes with them unfolded and checks that
# every one of them comes from FSharp.Core code the plugin never calls: printf
# (PrintfImpl), %A structured formatting (StructuredPrintfImpl) and FSharp.Reflection.
# Anything else, and any warning from outside FSharp.Core, fails the audit.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

dotnet publish src/Host -c Release -o out/audit -p:AuditFSharpCore=true -p:TreatWarningsAsErrors=false \
  -p:IntermediateOutputPath=obj/audit/ > "$log" 2>&1
rc=$?
warnings=$(grep -aE 'warning (IL|CS|FS)[0-9]+' "$log" | sort -u)
allowed='Microsoft\.FSharp\.(Core\.PrintfImpl|Text\.StructuredPrintfImpl|Reflection)\.'
outside=$(grep -avE "$allowed" <<< "$warnings" | grep -a . || true)
total=$(grep -ac . <<< "$warnings")

if [ "$rc" -ne 0 ]; then
  tail -n 20 "$log"
  echo "aot-audit: 0 passed, 1 failed"
elif [ -n "$outside" ]; then
  echo "warnings outside FSharp.Core's printf, formatting and reflection code:"
  echo "$outside"
  echo "aot-audit: 0 passed, 1 failed"
else
  echo "aot-audit: $total FSharp.Core warnings, all in printf/formatting/reflection code"
  echo "aot-audit: 1 passed, 0 failed"
fi
