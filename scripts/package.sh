#!/usr/bin/env bash
# Builds the Debian package from this tree: tallyd_<version>_<arch>.deb in build-deb/ (or $1).
# dpkg-buildpackage -us -uc -b on a copy of the tree (tracked and untracked-but-not-ignored
# files, so no build/ is reused and nothing is written outside the output folder), no network.
# The build dependencies are debian/control's Build-Depends, all in scripts/packages.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/build-deb}" && cd "${1:-$root/build-deb}" && pwd)

rm -rf "$out/src" "$out"/tallyd_* "$out"/tallyd-dbgsym_*
mkdir -p "$out/src"
cd "$root"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -C "$out/src" -xf -
else  # an unpacked tarball: everything but the build folders
  tar --exclude='./build*' --exclude=./.git -cf - . | tar -C "$out/src" -xf -
fi

cd "$out/src"
# dpkg-buildpackage writes its results into the parent folder, $out. Two jobs: the machine's
# cores are shared with other builds.
DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=2}" dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1 || {
  tail -n 40 "$out/build.log" >&2
  echo "package: dpkg-buildpackage failed, log in $out/build.log" >&2
  exit 1
}
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
echo "$out/tallyd_${version}_${arch}.deb"
