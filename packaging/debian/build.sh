#!/usr/bin/env bash
# Assembles the Debian binary package of dcos-l4lb from what the build produced, with
# dpkg-deb alone: no debhelper and no network. The version is the one the Makefile read
# from Directory.Build.props; the changelog's latest entry must carry it.
#
# usage: packaging/debian/build.sh VERSION PLUGIN L4LBCTL OUTPUT.deb
#   PLUGIN   the Native AOT plugin (bin/dcos-l4lb)
#   L4LBCTL  the self-contained single-file l4lbctl
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 VERSION PLUGIN L4LBCTL OUTPUT.deb" >&2; exit 2; }
version=$1 plugin=$2 ctl=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

changelog_version=$(sed -n '1s/^dcos-l4lb (\([^)]*\)).*/\1/p' "$here/changelog")
if [ "$changelog_version" != "$version" ]; then
  echo "packaging/debian/changelog: the latest entry is '$changelog_version' but" \
    "Directory.Build.props says $version; add a changelog entry for $version" >&2
  exit 1
fi
# the package's timestamps are those of its changelog entry, so that a rebuild of
# the same sources gives the same package
SOURCE_DATE_EPOCH=$(date -d "$(sed -n 's/^ -- .*>  //p' "$here/changelog" | head -n 1)" +%s)
export SOURCE_DATE_EPOCH

# dpkg-shlibdeps wants a source tree: debian/control, and the package under debian/<name>
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 022
mkdir -p "$work/debian"
printf 'Source: dcos-l4lb\n\nPackage: dcos-l4lb\nArchitecture: amd64\n' > "$work/debian/control"
pkg=$work/debian/dcos-l4lb
doc=$pkg/usr/share/doc/dcos-l4lb

install -D -m 0755 "$plugin" "$pkg/usr/lib/cni/dcos-l4lb"
# as dh_strip does; the plugin is stripped already. Not l4lbctl: its bundle follows the
# ELF image, and objcopy would drop it.
objcopy --remove-section=.comment "$pkg/usr/lib/cni/dcos-l4lb"
install -D -m 0755 "$ctl" "$pkg/usr/bin/l4lbctl"
install -D -m 0644 "$here/l4lbctl.1" "$pkg/usr/share/man/man1/l4lbctl.1"
install -D -m 0644 "$here/lintian-overrides" "$pkg/usr/share/lintian/overrides/dcos-l4lb"
install -D -m 0644 "$here/copyright" "$doc/copyright"
install -D -m 0644 "$here/changelog" "$doc/changelog"
install -D -m 0644 "$repo/README.md" "$doc/README.md"
install -D -m 0644 -t "$doc/docs" "$repo"/docs/*.md
install -D -m 0644 -t "$doc/examples" "$repo"/examples/*.conf "$repo"/examples/*.conflist
# the .NET runtime inside both executables asks for its notices to travel with it
notices=$(dirname "$(readlink -f "$(command -v dotnet)")")/ThirdPartyNotices.txt
if [ ! -f "$notices" ]; then
  echo "$notices not found: the package must carry the third-party notices of the" \
    ".NET SDK that built it; build with an SDK installed from Microsoft's archive" >&2
  exit 1
fi
install -D -m 0644 "$notices" "$doc/dotnet-ThirdPartyNotices.txt"

# compressed as dh_compress does (Debian policy 12.3): manual pages, the changelog,
# and documents over 4 kB; not the copyright file, not the examples
gzip -9n "$pkg/usr/share/man/man1/l4lbctl.1" "$doc/changelog"
find "$doc" -path "$doc/examples" -prune -o -type f -size +4k ! -name copyright \
  -exec gzip -9n {} +
find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -m 0755 "$pkg/DEBIAN"
# Only l4lbctl loads shared libraries: the plugin is statically linked. shlibdeps' default
# warnings are about how the .NET host was linked (libdl, librt, libpthread needed but
# unused), nothing this package can change.
depends=$(cd "$work" && dpkg-shlibdeps -O --warnings=1 \
  "$pkg/usr/bin/l4lbctl" | sed -n 's/^shlibs:Depends=//p')
# The plugin holds part of glibc's libc.a (Debian policy 7.8, Built-Using): a glibc
# security update reaches it only through a rebuild of this package.
built_using=$(dpkg-query -W -f='${source:Package} (= ${source:Version})' libc6-dev)
installed_size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@DEPENDS@/$depends/" -e "s/@BUILT_USING@/$built_using/" \
  -e "s/@INSTALLED_SIZE@/$installed_size/" "$here/control.in" > "$pkg/DEBIAN/control"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
  xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/md5sums"

mkdir -p "$(dirname "$out")"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out"
