#!/usr/bin/env bash
# Builds variants of the minimal Native AOT VERSION responder (Program.cs, floor.csproj)
# into $FLOOR_OUT/aot/out/<variant>/floor, each from its own copy of the sources so that
# obj/ directories never mix; "syms" is the base variant with its symbol table (not DWARF,
# which valgrind cannot read) for callgrind_annotate, in $FLOOR_OUT/aot/syms/floor.
#   bash tests/Bench/floor/aot/build.sh [VARIANT...]     (none: every variant and syms)
# The project has no package references: the ILCompiler packages that PublishAot brings
# restore from the machine's NuGet configuration, as src/Host's do (after `make build` they
# are in the local package cache). The repository's Directory.Build.props is not imported:
# the program is built as it was measured (warnings as errors would stop the static
# variant, whose link warns about glibc's dlopen).
set -euo pipefail
. "$(dirname "$0")/../env.sh"
need_tools dotnet objcopy
declare -A V=(
  [base]=""
  [noinvariant]="-p:InvariantGlobalization=false"
  [resourcekeys_off]="-p:UseSystemResourceKeys=false"
  [noconcgc]="-p:ConcurrentGarbageCollection=false"
  [rc_gcconc_false]="-p:GcConcurrentOption=false"
  [autorelease]="-p:AutoreleasePoolSupport=false"
  [nopie]="-p:PositionIndependentExecutable=false"
  [static]="-p:StaticExecutable=true -p:PositionIndependentExecutable=false"
  [norelr]="-p:NoPackRelocs=true"
  [dehydrated]="-p:IlcDehydrate=true"
  [console]="-p:DefineConstants=USE_CONSOLE"
  [gold_norelr]="-p:LinkerFlavor=gold -p:NoPackRelocs=true"
  # expected to fail with binutils 2.40 (a linker assertion): kept to show it
  [staticpie_norelr]="-p:StaticExecutable=true -p:NoPackRelocs=true"
  [size]="-p:OptimizationPreference=Size"
  [syms]="-p:StripSymbols=false"
)
names=("$@"); [ ${#names[@]} -gt 0 ] || names=("${!V[@]}")
A=$FLOOR_OUT/aot
mkdir -p "$A/build" "$A/out" "$A/dbg"
for n in "${names[@]}"; do
  [ -n "${V[$n]+set}" ] || { echo "aot/build.sh: no variant $n (variants: ${!V[*]})" >&2; exit 2; }
  rm -rf "$A/build/$n" "$A/out/$n"; mkdir -p "$A/build/$n"
  cp "$floor/aot/Program.cs" "$floor/aot/floor.csproj" "$A/build/$n/"
  echo "== $n: ${V[$n]}"
  # shellcheck disable=SC2086
  if dotnet publish "$A/build/$n" -c Release -o "$A/out/$n" -p:ImportDirectoryBuildProps=false ${V[$n]} >"$A/build/$n.log" 2>&1; then
    if [ "$n" = syms ]; then
      mkdir -p "$A/syms"; objcopy --strip-debug "$A/out/syms/floor" "$A/syms/floor"; rm -rf "$A/out/syms"
      echo "   $A/syms/floor"; continue
    fi
    # valgrind chokes on the separate debug file next to the binary
    [ -f "$A/out/$n/floor.dbg" ] && mv "$A/out/$n/floor.dbg" "$A/dbg/$n.dbg"
    echo "   $A/out/$n/floor: $(stat -c %s "$A/out/$n/floor") bytes"
  else
    rm -rf "$A/out/$n"
    echo "   FAILED (see $A/build/$n.log)"; grep -E 'error|warning' "$A/build/$n.log" | sort -u | head -5
  fi
done
