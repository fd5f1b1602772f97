#!/bin/bash
# A card of many small photos, to see how memory grows with the number of files
# (docs/performance.md, "Memory on a card of 60 000 files"). Not part of bench/speed.mjs:
# mcopy into folders of 1000 files is slow (about 20 minutes for 60 000 files here).
#
#   bench/many-files.sh [OUTDIR] [FOLDERS]     (default: bench/work/many, 60 folders of 1000)
#
# Writes OUTDIR/live.img (the files in place) and OUTDIR/quick.img (the same card after a
# quick format with the same parameters). Needs dosfstools, mtools and imagemagick.
# Then, e.g.:  /usr/bin/time -v node dist/cardrescue.js list OUTDIR/quick.img > /dev/null
set -euo pipefail
OUT=${1:-bench/work/many}
FOLDERS=${2:-60}
PER_FOLDER=1000
export MTOOLS_SKIP_CHECK=1
mkdir -p "$OUT/src"
# 20 different small JPEGs, cycled.
for i in $(seq 0 19); do
  [ -s "$OUT/src/p$i.jpg" ] || convert -size 64x48 plasma:fractal -quality 80 "$OUT/src/p$i.jpg"
done
IMG="$OUT/card.img"
rm -f "$IMG"
truncate -s 1G "$IMG"
mkfs.fat -F 32 -s 8 "$IMG" >/dev/null
mmd -i "$IMG" ::DCIM
for ((d = 100; d < 100 + FOLDERS; d++)); do
  stage="$OUT/stage/$d"
  mkdir -p "$stage"
  for ((i = 0; i < PER_FOLDER; i++)); do
    n=$(((d - 100) * PER_FOLDER + i))
    cp "$OUT/src/p$((n % 20)).jpg" "$stage/IMG_$(printf %05d $n).JPG"
  done
  mmd -i "$IMG" "::DCIM/${d}CANON"
  mcopy -i "$IMG" "$stage"/* "::DCIM/${d}CANON/"
  rm -rf "$stage"
done
cp "$IMG" "$OUT/live.img"
mkfs.fat -F 32 -s 8 "$IMG" >/dev/null
mv "$IMG" "$OUT/quick.img"
echo "$OUT/live.img and $OUT/quick.img: $((FOLDERS * PER_FOLDER)) files"
