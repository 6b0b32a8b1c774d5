#!/usr/bin/env bash
# A one-node Slurm cluster for the tests, as root without systemd: munged,
# slurmctld and slurmd with every state file in one temporary folder, stopped
# by their pids. Source it, then: slurm_start DIR (returns 1, with the reason
# on stderr, where the daemons cannot start) ... slurm_stop DIR.
# SLURM_CONF must stay exported for sbatch/squeue to find this cluster.

slurm_start() {
  local dir=$1 host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
  mkdir -p "$dir"/{state,spool,log,munge}
  if [ "$(id -u)" -ne 0 ]; then echo "not root: cannot start munged and slurmd" >&2; return 1; fi
  for tool in munged slurmctld slurmd sbatch squeue; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; return 1; }
  done
  # munged refuses a socket folder others can write; its own key and socket here.
  chown munge:munge "$dir/munge"; chmod 0700 "$dir/munge"
  install -o munge -g munge -m 0400 /etc/munge/munge.key "$dir/munge/munge.key"
  runuser -u munge -- /usr/sbin/munged --force --key-file="$dir/munge/munge.key" \
    --socket="$dir/munge/socket" --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/seed" || { echo "munged did not start" >&2; return 1; }
  cat > "$dir/slurm.conf" <<CONF
ClusterName=distilltest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=$(( 20000 + RANDOM % 20000 ))
SlurmdPort=$(( 40000 + RANDOM % 20000 ))
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -i -f "$SLURM_CONF" || { echo "slurmctld did not start: $(tail -3 "$dir/log/slurmctld.log" 2>/dev/null)" >&2; return 1; }
  slurmd -f "$SLURM_CONF" || { echo "slurmd did not start: $(tail -3 "$dir/log/slurmd.log" 2>/dev/null)" >&2; return 1; }
  local i
  for i in $(seq 1 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then return 0; fi
    sleep 0.5
  done
  echo "the node never became idle: $(sinfo 2>&1 | tail -2) $(tail -3 "$dir/log/slurmd.log" 2>/dev/null)" >&2
  return 1
}

slurm_stop() {
  local dir=$1 f pid
  for f in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  done
}
