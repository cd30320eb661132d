#!/usr/bin/env bash
# Re-vendor Leaflet from the npm registry and check it against the recorded checksums.
#   zoning/_assets/vendor.sh          fetch with `npm pack`, unpack, copy, verify
#   zoning/_assets/vendor.sh --check  only verify the files in the tree
# Maps inline these files, so a map works offline and never asks a CDN for anything.
set -euo pipefail
cd "$(dirname "$0")"
VERSION=1.9.4
if [ "${1:-}" != "--check" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "leaflet@$VERSION" >/dev/null && tar xzf "leaflet-$VERSION.tgz")
  mkdir -p leaflet/images
  cp "$work/package/dist/leaflet.js" "$work/package/dist/leaflet.css" leaflet/
  cp "$work/package/dist/images/"*.png leaflet/images/
  cp "$work/package/LICENSE" leaflet/LICENSE
fi
sha256sum --check --quiet SHA256SUMS
echo "leaflet $VERSION: files match SHA256SUMS"
