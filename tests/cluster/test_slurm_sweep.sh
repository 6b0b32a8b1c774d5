#!/usr/bin/env bash
# Issue 15: a 4-trial sweep as a real Slurm job array on a one-node cluster.
# `distill sweep --emit slurm` writes the submission script; its array tasks
# each run one shard into their own database, and the dependent job merges
# them. The merged database must hold 4 completed runs, every row of every
# shard, and pass integrity_check. Exit 77 (skipped) only where the daemons
# cannot start, with the reason.
set -euo pipefail
distill=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/slurm_cluster.sh"

work=$(mktemp -d /tmp/distill-slurm-XXXXXX)
chmod 0755 "$work"
cleanup() { slurm_stop "$work/cluster"; rm -rf "$work"; }
trap cleanup EXIT

if ! reason=$(slurm_start "$work/cluster" 2>&1); then
  echo "SKIPPED: the Slurm daemons cannot start here: $reason"
  exit 77
fi
export SLURM_CONF="$work/cluster/slurm.conf"  # slurm_start ran in a subshell

corpus=/usr/share/sounds/sound-icons
[ -d "$corpus" ] || { echo "the demo corpus $corpus is missing (.ci/setup installs sound-icons)"; exit 1; }
cat > "$work/exp.toml" <<TOML
name = "slurm-test"
seed = 3
threads = 1
[data]
dir = "$corpus"
cache_dir = "$work/cache"
n_mels = 32
chunk_seconds = 0.5
[model]
latent_dim = 8
[[loss]]
plugin = "mag_l1"
[[loss]]
plugin = "kl"
weight = 0.01
[train]
epochs = 1
batch_size = 16
checkpoint_every = 0
[sweep]
"train.lr" = [1e-3, 5e-4]
"loss.kl.weight" = [0.01, 0.02]
TOML

cd "$work"
"$distill" sweep exp.toml --emit slurm --shards 2 --array-parallelism 2 --db "$work/merged.db" > submit.sh
grep -q -- '--array=0-1%2' submit.sh
grep -q -- '--dependency=afterany:' submit.sh
bash submit.sh

# Bounded wait: the jobs leave the queue and the merge has written its database.
for _ in $(seq 1 300); do
  if [ -z "$(squeue -h 2>/dev/null)" ] && [ -f merged.shards/*-merge.log ] 2>/dev/null; then break; fi
  sleep 1
done
if [ -n "$(squeue -h)" ]; then echo "jobs still queued after 300 s:"; squeue; exit 1; fi
cat merged.shards/*-merge.log

q() { "$distill" query "$1" --db "$2" --format csv | tail -n +2; }
completed=$(q "SELECT count(*) FROM runs WHERE status = 'completed'" merged.db)
trials=$(q "SELECT count(DISTINCT trial_index) FROM runs" merged.db)
sweeps=$(q "SELECT count(*) FROM sweeps" merged.db)
[ "$completed" = 4 ] || { echo "expected 4 completed runs, got $completed"; exit 1; }
[ "$trials" = 4 ] || { echo "expected 4 trials, got $trials"; exit 1; }
[ "$sweeps" = 1 ] || { echo "the shards must merge into one sweep, got $sweeps"; exit 1; }
for table in step_metrics epoch_metrics loss_terms events run_params artifacts; do
  merged=$(q "SELECT count(*) FROM $table" merged.db)
  total=0
  for shard in merged.shards/*.db; do total=$(( total + $(q "SELECT count(*) FROM $table" "$shard") )); done
  [ "$merged" = "$total" ] || { echo "$table: merged $merged rows, the shards hold $total"; exit 1; }
  [ "$merged" -gt 0 ] || { echo "$table: no rows"; exit 1; }
done
[ "$(sqlite3 merged.db 'PRAGMA integrity_check')" = ok ] || { echo "integrity_check failed"; exit 1; }
echo "Slurm sweep: 4 completed runs merged from 2 array tasks; every row present; integrity ok"
