#!/usr/bin/env bash
# Vendor the browser libraries the maps need, so the app works offline.
# Fetches pinned versions with `npm pack` (npm registry only), copies the
# built files into static/vendor/<package>/ and writes VERSIONS.txt with the
# sha256 of every copied file. Re-run after changing a version below.
#
#   bash static/vendor/fetch.sh
#
# Check the committed files against VERSIONS.txt:
#   cd static/vendor && grep -E '^[0-9a-f]{64}  ' VERSIONS.txt | sha256sum -c
set -euo pipefail

LEAFLET_VERSION=1.9.4
MARKERCLUSTER_VERSION=1.5.3

VENDOR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# unpack NAME VERSION -> prints the extracted package dir
unpack() {
    local name=$1 version=$2 tgz
    tgz=$(cd "$TMP" && npm pack "$name@$version" --silent | tail -n 1)
    mkdir -p "$TMP/$name"
    tar -xzf "$TMP/$tgz" -C "$TMP/$name"
    echo "$TMP/$name/package"
}

# license_of PKGDIR -> the package's licence file (names differ per package)
license_of() {
    local f
    for f in "$1"/LICENSE "$1"/LICENSE.* "$1"/LICENCE "$1"/LICENCE.* "$1"/MIT-LICENCE.txt "$1"/MIT-LICENSE.txt; do
        if [[ -f $f ]]; then echo "$f"; return; fi
    done
    echo "no licence file in $1" >&2
    exit 1
}

leaflet=$(unpack leaflet "$LEAFLET_VERSION")
cluster=$(unpack leaflet.markercluster "$MARKERCLUSTER_VERSION")

rm -rf "$VENDOR/leaflet" "$VENDOR/leaflet.markercluster"
mkdir -p "$VENDOR/leaflet/images" "$VENDOR/leaflet.markercluster"

cp "$leaflet/dist/leaflet.js" "$leaflet/dist/leaflet.css" "$VENDOR/leaflet/"
cp "$leaflet"/dist/images/* "$VENDOR/leaflet/images/"
cp "$(license_of "$leaflet")" "$VENDOR/leaflet/LICENSE"

cp "$cluster/dist/leaflet.markercluster.js" \
   "$cluster/dist/MarkerCluster.css" \
   "$cluster/dist/MarkerCluster.Default.css" \
   "$VENDOR/leaflet.markercluster/"
cp "$(license_of "$cluster")" "$VENDOR/leaflet.markercluster/LICENSE"
# The tarballs carry odd modes (some files executable): plain files everywhere.
find "$VENDOR/leaflet" "$VENDOR/leaflet.markercluster" -type f -exec chmod 644 {} +

# VERSIONS.txt: "name version" headers, then sha256sum lines (paths relative
# to static/vendor) so that `sha256sum -c` can verify them.
{
    echo "# Written by static/vendor/fetch.sh: do not edit by hand."
    echo "# Verify: cd static/vendor && grep -E '^[0-9a-f]{64}  ' VERSIONS.txt | sha256sum -c"
    for entry in "leaflet $LEAFLET_VERSION" "leaflet.markercluster $MARKERCLUSTER_VERSION"; do
        name=${entry% *}
        echo
        echo "$entry"
        (cd "$VENDOR" && find "$name" -type f | LC_ALL=C sort | xargs sha256sum)
    done
} > "$VENDOR/VERSIONS.txt"

echo "vendored leaflet@$LEAFLET_VERSION and leaflet.markercluster@$MARKERCLUSTER_VERSION into $VENDOR"
