#!/usr/bin/env bash
# ctest Peer.FirstStepsMatchDistill: distill's first steps (peer_export) and
# the Python peer's from the same state, batch and seeds give the same loss
# terms (1e-5) and the same parameters after. Exit 77 (skipped) where no
# Python with torch is installed.
set -euo pipefail
exporter=$1
here=$(cd "$(dirname "$0")" && pwd)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
if ! python=$("$here/find_python" 2>&1); then
  echo "SKIPPED: $python"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Epoch 30 of 200: inside the KL warm-up (weight 0.01 * 30/60), so the
# schedule is checked too; two steps, so AdamW and clipping are.
"$exporter" --out "$dir" --steps 2 --epoch 30 --batch 8 --threads 2
"$python" "$here/check_export.py" "$dir"
