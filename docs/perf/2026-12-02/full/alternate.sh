#!/usr/bin/env bash
# usage: alternate.sh <before-tree> <now-tree> <outdir>
# Runs ../../run.sh on the two trees in turn, two rounds of -count 5 each, so
# that the machine's drift weighs on both; concatenate the rounds afterwards:
#   for k in server large idle hcli dcli jenc; do cat before-r1-$k.txt before-r2-$k.txt > before-$k.txt; ...; done
set -u
before=$1 now=$2 out=$3
run=$(cd "$(dirname "$0")/../.." && pwd)/run.sh
for r in 1 2; do
  bash "$run" "$before" "$out/before-r$r" 5
  bash "$run" "$now" "$out/now-r$r" 5
done
