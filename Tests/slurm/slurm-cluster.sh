#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for tests: munged with its own key and socket,
# slurmctld and slurmd with state under one temporary directory. Source it, then call
#   slurm_start DIR   (exports SLURM_CONF; returns non-zero with a reason on stderr when Slurm cannot start)
#   slurm_stop        (stops exactly the daemons slurm_start started)
# Needs root (slurmd runs jobs as their submitting user), slurm-wlm and munge.

slurm_pids=()

slurm_fail() {
    echo "slurm: $*" >&2
    return 1
}

slurm_start() {
    local dir=$1
    [ "$(id -u)" = 0 ] || { slurm_fail "needs root to run slurmd"; return 1; }
    for tool in munged mungekey slurmctld slurmd sbatch squeue scontrol sinfo; do
        command -v "$tool" >/dev/null 2>&1 || { slurm_fail "$tool is not installed (apt-get install slurm-wlm munge)"; return 1; }
    done
    mkdir -p "$dir"/{munge,state,spool,log}
    chmod 700 "$dir/munge"
    mungekey --create --keyfile="$dir/munge/munge.key" --force >/dev/null 2>&1 \
        || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1 count=1024 status=none
    chmod 400 "$dir/munge/munge.key"
    munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" \
        || { slurm_fail "munged did not start: $(tail -3 "$dir/log/munged.log" 2>/dev/null)"; return 1; }
    slurm_pids+=("$(cat "$dir/munge/munged.pid")")

    local host cpus memory port
    host=$(hostname -s)
    cpus=$(nproc)
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
    port=$(( 20000 + RANDOM % 20000 ))
    cat > "$dir/slurm.conf" <<CONF
ClusterName=cnnctest
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -D -i -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 &
    slurm_pids+=("$!")
    slurmd -D -f "$SLURM_CONF" >"$dir/log/slurmd.out" 2>&1 &
    slurm_pids+=("$!")
    local i
    for i in $(seq 1 60); do
        if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            return 0
        fi
        sleep 0.5
    done
    slurm_fail "the node did not come up in 30 s: $(sinfo -h 2>&1 | head -2); slurmctld: $(tail -3 "$dir/log/slurmctld.log" 2>/dev/null); slurmd: $(tail -3 "$dir/log/slurmd.log" 2>/dev/null)"
    return 1
}

slurm_stop() {
    local pid
    for pid in "${slurm_pids[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${slurm_pids[@]}"; do
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$pid" 2>/dev/null
    done
    slurm_pids=()
}
