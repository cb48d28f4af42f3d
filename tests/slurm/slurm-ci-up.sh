#!/usr/bin/env bash
# Bring up a throw-away single-node SLURM 22.05 cluster (Debian 12) for the tests, as root.
# Debian 12's slurm-wlm packages, configured for one node with no accounting database.
#   No accounting: Snakemake must use --slurm-status-command squeue (profiles/slurm-ci).
#   FAKE_GPU=1       -> advertise one fake GPU (gres/gpu, File=/dev/null) to exercise --gpus/--gres paths
# Every daemon's PID is written to $PREFIX/pids (name pid); slurm-ci-down.sh kills exactly those.
set -euo pipefail
FAKE_GPU=${FAKE_GPU:-0}
PREFIX=${SLURM_CI_PREFIX:-/tmp/slurm-ci}
export DEBIAN_FRONTEND=noninteractive

t0=$(date +%s)
if ! command -v slurmctld >/dev/null; then
  apt-get update -qq
  # tested: `slurm-wlm munge` (pulls many -dev plugin pkgs, ~16 s here);
  # lighter, untested: --no-install-recommends slurmctld slurmd slurm-client munge
  apt-get install -y -q slurm-wlm munge >/dev/null
fi
echo "[slurm-ci] packages ready after $(( $(date +%s) - t0 )) s"

rm -rf "$PREFIX"; mkdir -p "$PREFIX"/{state,spool,log,etc-backup}
# keep whatever SLURM configuration the machine had; slurm-ci-down.sh puts it back
for f in slurm.conf gres.conf; do
  if [ -e "/etc/slurm/$f" ]; then cp -p "/etc/slurm/$f" "$PREFIX/etc-backup/$f"; fi
done
: > "$PREFIX/pids"
H=$(hostname -s)
NCPU=$(nproc)
MEM=$(( $(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p') * 9 / 10 ))

# ---------- munge ----------
[ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
  || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; }
chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge; chmod 755 /run/munge
runuser -u munge -- /usr/sbin/munged          # daemonizes, writes /run/munge/munged.pid
sleep 1; echo "munged $(cat /run/munge/munged.pid)" >> "$PREFIX/pids"
munge -n | unmunge >/dev/null

# ---------- slurm.conf ----------
# no accounting database: Snakemake's SLURM executor must use `squeue` for job status
# but memory is gathered every second and a step over its --mem is killed (OUT_OF_MEMORY),
# so the tests can see a resubmission with the attempt-scaled request
ACCT="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill"
GRES_NODE=""; GRES_TYPES=""
if [ "$FAKE_GPU" = 1 ]; then
  GRES_NODE="Gres=gpu:1"; GRES_TYPES="GresTypes=gpu"
  echo "NodeName=${H} Name=gpu File=/dev/null" > /etc/slurm/gres.conf
else
  rm -f /etc/slurm/gres.conf
fi
cat > /etc/slurm/slurm.conf <<EOF
ClusterName=ci
SlurmctldHost=${H}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
${GRES_TYPES}
${ACCT}
ReturnToService=2
# keep finished jobs visible to squeue for >= 3 x the plugin's status-check interval
MinJobAge=300
StateSaveLocation=${PREFIX}/state
SlurmdSpoolDir=${PREFIX}/spool
SlurmctldPidFile=${PREFIX}/slurmctld.pid
SlurmdPidFile=${PREFIX}/slurmd.pid
SlurmctldLogFile=${PREFIX}/log/slurmctld.log
SlurmdLogFile=${PREFIX}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=${H} NodeAddr=127.0.0.1 CPUs=${NCPU} RealMemory=${MEM} ${GRES_NODE} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE DefMemPerCPU=500 State=UP
EOF

# ---------- slurmctld + slurmd ----------
/usr/sbin/slurmctld
for i in $(seq 60); do [ -s "$PREFIX/slurmctld.pid" ] && scontrol ping >/dev/null 2>&1 && break; sleep 0.5; done
echo "slurmctld $(cat "$PREFIX/slurmctld.pid")" >> "$PREFIX/pids"
/usr/sbin/slurmd
for i in $(seq 60); do [ "$(sinfo -h -o %T 2>/dev/null)" = "idle" ] && break; sleep 0.5; done
echo "slurmd $(cat "$PREFIX/slurmd.pid")" >> "$PREFIX/pids"
sinfo -h -o %T | grep -qx idle || { echo "node not idle"; sinfo -R; exit 1; }

echo "[slurm-ci] cluster up after $(( $(date +%s) - t0 )) s; pids: $(tr '\n' ' ' < "$PREFIX/pids")"
