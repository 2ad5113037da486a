#!/usr/bin/env bash
# The Debian package: `make deb`, lintian, then, as root, dpkg -i, the files where they
# belong, the installed plugin and l4lbctl run, dpkg -r and --purge, and nothing of the
# package left. The machine is left as it was found, also when a check fails: a
# package that is installed is purged on exit. When dcos-l4lb is installed already, or
# a file of the package exists (say from `make install CNI_BIN_DIR=/usr/lib/cni`), the
# install checks are skipped and the machine is not touched.
# Ends with "deb: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
deb=dist/dcos-l4lb_${version}_amd64.deb
passed=0
failed=0
installed_here=false
scratch=$(mktemp -d)

cleanup() {
  if $installed_here; then
    dpkg_waiting --purge dcos-l4lb > /dev/null 2>&1 || echo "deb: could not purge dcos-l4lb" >&2
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

pass() { echo "  ok   $1"; passed=$((passed + 1)); }
fail() {
  echo "  FAIL $1"
  if [ -n "${2:-}" ]; then sed 's/^/       /' <<< "$2"; fi
  failed=$((failed + 1))
}
check() { # name command...: passes when the command succeeds, else shows its output
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}
finish() {
  echo "deb: $passed passed, $failed failed"
  if [ "$failed" -eq 0 ]; then exit 0; else exit 1; fi
}
# "installed" for any state dpkg keeps a record of, "absent" otherwise
package_state() {
  local s
  s=$(dpkg-query -W -f='${db:Status-Abbrev}' dcos-l4lb 2> /dev/null) || s=""
  s=${s%% *}
  case "$s" in "" | un) echo absent ;; *) echo "installed ($s)" ;; esac
}
# dpkg, waiting while another program (apt-get in a concurrent `make deps`) holds the
# dpkg database: dpkg fails at once rather than wait
dpkg_waiting() {
  local out tries=120
  while ! out=$(dpkg "$@" 2>&1); do
    if ! grep -q 'locked by another process' <<< "$out" || [ "$tries" -eq 0 ]; then
      echo "$out"
      return 1
    fi
    tries=$((tries - 1))
    sleep 5
  done
  echo "$out"
}
contains() { # text pattern: passes when the text holds the fixed string
  grep -qF -- "$2" <<< "$1" || { echo "expected \"$2\" in:"; echo "$1"; return 1; }
}

echo "deb: make deb"
if ! make --no-print-directory deb > "$scratch/make.log" 2>&1; then
  fail "make deb" "$(tail -n 30 "$scratch/make.log")"
  finish
fi
pass "make deb wrote $deb ($(du -h "$deb" | cut -f1))"

field() { dpkg-deb -f "$deb" "$1"; }
check "Package is dcos-l4lb" test "$(field Package)" = dcos-l4lb
check "Version is $version, from Directory.Build.props" test "$(field Version)" = "$version"
check "Architecture is amd64" test "$(field Architecture)" = amd64
check "Depends on libc6" contains "$(field Depends)" "libc6 (>="
check "Built-Using names the glibc linked into the plugin" contains "$(field Built-Using)" "glibc (= "
# the plugin loads no shared library (docs/operations.md), so Depends is l4lbctl's alone
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/cni/dcos-l4lb > "$scratch/plugin"
statically_linked() {
  readelf -lW "$1" | grep -q 'program interpreter' && { echo "$1 has a program interpreter"; return 1; }
  readelf -dW "$1" | grep 'NEEDED' && { echo "$1 needs shared libraries"; return 1; }
  return 0
}
check "the packaged plugin is statically linked" statically_linked "$scratch/plugin"
check "Recommends containernetworking-plugins" contains "$(field Recommends)" containernetworking-plugins

# entries of the package: "d path" or "f mode path" (path without the leading '.')
dpkg-deb -c "$deb" | awk '{ p = substr($6, 2); sub("/$", "", p); if (p == "") next;
  if ($1 ~ /^d/) print "d", p; else print "f", $1, p }' > "$scratch/entries"
check "the package holds files" grep -q '^f ' "$scratch/entries"
for path in /usr/lib/cni/dcos-l4lb /usr/bin/l4lbctl /usr/share/man/man1/l4lbctl.1.gz \
  /usr/share/doc/dcos-l4lb/copyright /usr/share/doc/dcos-l4lb/changelog.gz \
  /usr/share/doc/dcos-l4lb/README.md.gz /usr/share/doc/dcos-l4lb/docs/operations.md.gz \
  /usr/share/doc/dcos-l4lb/examples/10-spartan-net.conf; do
  check "the package holds $path" grep -qx "f -[rwx-]* $path" "$scratch/entries"
done

if command -v lintian > /dev/null; then
  # every tag, info and pedantic ones too; the overrides in packaging/debian say why
  # each remaining tag stays
  lintian -I --pedantic --fail-on error,warning,info,pedantic --color never "$deb" \
    > "$scratch/lintian" 2>&1
  rc=$?
  lintian_out=$(grep -v '^running with root privileges' "$scratch/lintian")
  if [ "$rc" -eq 0 ] && ! grep -qE '^[EWIP]: ' <<< "$lintian_out"; then
    pass "lintian: no tags beyond the explained overrides"
  else
    fail "lintian (exit $rc)" "$lintian_out"
  fi
else
  fail "lintian is not installed (make deps installs it)"
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "deb: not root; dpkg -i and -r skipped"
  finish
fi
# one copy of this test at a time installs the package (another clone's run may be under
# way): a lock every clone finds at the same path, taken with flock(2), which dpkg's own
# fcntl locks do not see
exec {serial}< /var/lib/dpkg
if ! flock -w 1800 "$serial"; then
  fail "another run of tests/deb.sh held the install for 30 minutes"
  finish
fi
state=$(package_state)
if [ "$state" != absent ]; then
  echo "deb: dcos-l4lb is $state on this machine; dpkg -i and -r skipped, the package left alone"
  finish
fi
present=$(awk '$1 == "f" { print $3 }' "$scratch/entries" | while read -r p; do
  if [ -e "$p" ] || [ -L "$p" ]; then echo "$p"; fi
done)
if [ -n "$present" ]; then
  echo "deb: files of the package exist already; dpkg -i and -r skipped, so as not to replace them:"
  echo "$present"
  finish
fi
# the directories that exist now must exist after the purge, and no others
awk '$1 == "d" { print $2 }' "$scratch/entries" | while read -r d; do
  if [ -d "$d" ]; then echo "$d"; fi
done > "$scratch/dirs-before"

installed_here=true
if ! out=$(dpkg_waiting -i "$deb"); then
  fail "dpkg -i" "$out"
  finish
fi
pass "dpkg -i"
check "dpkg reports dcos-l4lb $version installed" \
  test "$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' dcos-l4lb)" = "ii $version"

wrong=$(awk '$1 == "f" { print $2, $3 }' "$scratch/entries" | while read -r mode p; do
  if [ ! -f "$p" ]; then
    echo "$p: missing"
  elif [ "$(stat -c '%A %U %G' "$p")" != "$mode root root" ]; then
    echo "$p: $(stat -c '%A %U %G' "$p"), expected $mode root root"
  fi
done)
if [ -z "$wrong" ]; then pass "every file installed, owned by root, with its mode"; else fail "installed files" "$wrong"; fi
check "dpkg -L lists the plugin" grep -qx /usr/lib/cni/dcos-l4lb <<< "$(dpkg -L dcos-l4lb)"

# the installed programs alone: no .NET on PATH, an empty HOME that must stay empty
# (a single-file .NET program extracts nothing)
home=$scratch/home
mkdir "$home"
run() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$home" "$@"; }
out=$(run CNI_COMMAND=VERSION /usr/lib/cni/dcos-l4lb < /dev/null 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && contains "$out" '"supportedVersions":[' > /dev/null \
  && contains "$out" '"1.1.0"' > /dev/null; then
  pass "CNI_COMMAND=VERSION /usr/lib/cni/dcos-l4lb: $out"
else
  fail "CNI_COMMAND=VERSION /usr/lib/cni/dcos-l4lb (exit $rc)" "$out"
fi
out=$(run /usr/bin/l4lbctl version 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && [[ "$out" == "l4lbctl $version "* ]]; then
  pass "l4lbctl version: $out"
else
  fail "l4lbctl version (exit $rc)" "$out"
fi
examples=/usr/share/doc/dcos-l4lb/examples
check "l4lbctl validate on the installed examples" \
  run l4lbctl validate "$examples"/10-spartan-net.conf "$examples"/40-chained.conflist
out=$(run l4lbctl plan add "$examples/10-spartan-net.conf" --container-id web1 \
  --netns /run/netns/web1 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && contains "$out" "ADD for container web1" > /dev/null; then
  pass "l4lbctl plan add on an installed example"
else
  fail "l4lbctl plan add (exit $rc)" "$out"
fi
out=$(run l4lbctl no-such-command 2>&1)
check "l4lbctl exits 2 on a usage error (Argu)" test $? -eq 2
left=$(find "$home" -mindepth 1)
if [ -z "$left" ]; then pass "the programs wrote nothing to HOME"; else fail "files in HOME" "$left"; fi

check "dpkg -r" dpkg_waiting -r dcos-l4lb
check "dpkg --purge" dpkg_waiting --purge dcos-l4lb
check "dpkg has no record of dcos-l4lb" test "$(package_state)" = absent
installed_here=false

left=$(awk '$1 == "f" { print $3 }' "$scratch/entries" | while read -r p; do
  if [ -e "$p" ] || [ -L "$p" ]; then echo "$p"; fi
done)
if [ -z "$left" ]; then pass "no file of the package is left"; else fail "files left" "$left"; fi
awk '$1 == "d" { print $2 }' "$scratch/entries" | while read -r d; do
  if [ -d "$d" ]; then echo "$d"; fi
done > "$scratch/dirs-after"
if diff "$scratch/dirs-before" "$scratch/dirs-after" > "$scratch/dirs.diff"; then
  pass "the package's directories are as before ($(wc -l < "$scratch/dirs-before") existed)"
else
  fail "directories differ from before (< before, > after)" "$(cat "$scratch/dirs.diff")"
fi

finish
