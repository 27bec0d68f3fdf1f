#!/usr/bin/env bash
# Renders the app icon assets/icons/org.letterbox.Letterbox.svg to PNGs in the
# hicolor theme layout: assets/icons/hicolor/<N>x<N>/apps/org.letterbox.Letterbox.png
# for N = 16 32 48 64 128 256 512. Safe to run again (overwrites the same files).
#
# Needs: rsvg-convert (Debian package librsvg2-bin).
# Run from anywhere: tools/render-icons.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

APP_ID="org.letterbox.Letterbox"
SVG="assets/icons/$APP_ID.svg"
OUT="assets/icons/hicolor"
SIZES=(16 32 48 64 128 256 512)

if ! command -v rsvg-convert >/dev/null 2>&1; then
    echo "render-icons: rsvg-convert not found; install it with: apt-get install librsvg2-bin" >&2
    exit 1
fi
[ -f "$SVG" ] || { echo "render-icons: $SVG not found" >&2; exit 1; }

for n in "${SIZES[@]}"; do
    dir="$OUT/${n}x${n}/apps"
    mkdir -p "$dir"
    # Write to a temporary file first so a failed render never leaves a broken PNG.
    tmp="$dir/.$APP_ID.png.tmp"
    rsvg-convert --format=png --width="$n" --height="$n" --keep-aspect-ratio \
        --output="$tmp" "$SVG"
    mv -f "$tmp" "$dir/$APP_ID.png"
    echo "rendered $dir/$APP_ID.png"
done
