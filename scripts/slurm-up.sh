#!/usr/bin/env bash
# Starts a private Slurm test cluster on this machine: munged, one slurmctld and N slurmd
# "nodes" (slurmd -N nK on 127.0.0.1, one port each), without systemd. Everything but munge
# lives under $LRNN_SLURM_ROOT. Idempotent: running daemons are left alone, and the
# configuration is rewritten only while they are all down.
#
# Prints SLURM_CONF=PATH on stdout (progress goes to stderr), so a shell can
#   export "$(scripts/slurm-up.sh)"
# Needs root and: apt-get install --no-install-recommends slurm-wlm munge
#
# Env (defaults): LRNN_SLURM_ROOT=/tmp/lrnn-slurm LRNN_SLURM_NODES=2 LRNN_SLURM_CPUS=1
#   (per node; 2 x 1 splits this 2-core machine exactly) LRNN_SLURM_MEM=8192 (MiB per node)
#   LRNN_SLURM_MAX_ARRAY=4 (MaxArraySize: small, so tests see sweeps split into chunks)
#   LRNN_SLURM_PORT0=6818 (slurmd ports; slurmctld listens on PORT0-1)
set -euo pipefail
ROOT=${LRNN_SLURM_ROOT:-/tmp/lrnn-slurm}
NODES=${LRNN_SLURM_NODES:-2}
CPUS=${LRNN_SLURM_CPUS:-1}
MEM=${LRNN_SLURM_MEM:-8192}
MAX_ARRAY=${LRNN_SLURM_MAX_ARRAY:-4}
PORT0=${LRNN_SLURM_PORT0:-6818}
CONF=$ROOT/etc/slurm.conf RUN=$ROOT/run STATE=$ROOT/state LOGDIR=$ROOT/log
export SLURM_CONF=$CONF

say() { printf '[slurm-up] %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

[ "$(id -u)" -eq 0 ] || fail "run as root (the daemons switch users)"
for b in munged munge unmunge slurmctld slurmd scontrol sinfo; do
  command -v "$b" >/dev/null || fail "$b is missing: apt-get install --no-install-recommends slurm-wlm munge"
done
HOST=$(hostname -s)
if ! getent hosts "$HOST" >/dev/null; then
  say "adding 127.0.0.1 $HOST to /etc/hosts (the controller must resolve its own name)"
  echo "127.0.0.1 $HOST" >>/etc/hosts
fi
NODE_NAMES=$(seq -f 'n%g' 1 "$NODES")

# munge: one daemon authenticates every Slurm daemon; slurm-down.sh stops it only if we
# started it.
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -o munge -g munge -m 0755 /run/munge
[ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
install -d -m 0755 "$ROOT/etc"
install -d -o slurm -g slurm -m 0755 "$RUN" "$STATE" "$STATE/ctld" "$LOGDIR"
if ! running /run/munge/munged.pid; then
  rm -f /run/munge/munged.pid /run/munge/munge.socket.2*
  runuser -u munge -- /usr/sbin/munged
  touch "$RUN/munged.ours"
  say "started munged"
fi
for _ in $(seq 50); do munge -n </dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
munge -n </dev/null | unmunge >/dev/null 2>&1 || fail "munge cannot encode and decode a credential"

# slurm.conf. Test-cluster choices, each for a measured reason (../shared/notes):
#  - batch_sched_delay=0, sched_interval=1: array tasks start as slots free, not in 3 s waves;
#  - cred_expire=10: a requeued task may start after 11 s, not 121 s;
#  - DefMemPerCPU: without it a task takes a node's whole memory and tasks run one at a time;
#  - no cgroups (proctrack/linuxproc, task/none): containers rarely have a usable tree;
#  - no slurmdbd: squeue -t all and the run folders say what happened; MinJobAge keeps
#    finished tasks visible for an hour.
NEW=$(mktemp)
{
  cat <<CONF
# Written by scripts/slurm-up.sh: $NODES slurmd nodes on $HOST, no slurmdbd.
ClusterName=lrnntest
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=10
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmctldPort=$((PORT0 - 1))
StateSaveLocation=$STATE/ctld
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdSpoolDir=$STATE/slurmd-%n
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmdLogFile=$LOGDIR/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGDIR/jobcomp.log
MinJobAge=3600
MaxArraySize=$MAX_ARRAY
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,bf_interval=1,sched_interval=1
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
SlurmctldTimeout=30
SlurmdTimeout=30
CONF
  i=0
  for n in $NODE_NAMES; do
    echo "NodeName=$n NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$((PORT0 + i)) CPUs=$CPUS RealMemory=$MEM State=UNKNOWN"
    i=$((i + 1))
  done
  echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
} >"$NEW"
if ! cmp -s "$NEW" "$CONF"; then
  for p in "$RUN"/slurmctld.pid "$RUN"/slurmd-*.pid; do
    if running "$p"; then
      rm -f "$NEW"
      fail "the configuration changed while daemons run: scripts/slurm-down.sh first"
    fi
  done
  install -m 0644 "$NEW" "$CONF"
  say "wrote $CONF"
fi
rm -f "$NEW"

running "$RUN/slurmctld.pid" || { say "starting slurmctld"; slurmctld -f "$CONF"; }
for _ in $(seq 600); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.1; done
scontrol ping | grep -q UP || fail "slurmctld does not answer; see $LOGDIR/slurmctld.log"
for n in $NODE_NAMES; do
  install -d -m 0755 "$STATE/slurmd-$n"
  running "$RUN/slurmd-$n.pid" || { say "starting slurmd -N $n"; slurmd -f "$CONF" -N "$n"; }
done

# Wait until every node takes jobs: a drained node is resumed, a down one clears when its
# slurmd registers.
ready=0
for _ in $(seq 600); do
  out=$(sinfo -h -N -o '%N %T' 2>/dev/null || true)
  ready=1
  [ "$(grep -c . <<<"$out")" = "$NODES" ] || ready=0
  while read -r n st; do
    case "$st" in
      idle* | mixed* | alloc* | completing*) ;;
      drain*) ready=0; scontrol update NodeName="$n" State=RESUME 2>/dev/null || true ;;
      *) ready=0 ;;
    esac
  done <<<"$out"
  [ "$ready" = 1 ] && break
  sleep 0.1
done
[ "$ready" = 1 ] || fail "nodes not ready: $(paste -sd' ' - <<<"$out"); see $LOGDIR/slurmd-*.log"
say "up: $NODES nodes of $CPUS CPU(s) on $HOST, MaxArraySize=$MAX_ARRAY"
echo "SLURM_CONF=$CONF"
