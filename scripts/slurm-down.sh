#!/usr/bin/env bash
# Stops what scripts/slurm-up.sh started, by the pids it recorded (never by name).
# Idempotent. Options:
#   --cancel  scancel every job and wait for the queue to drain (else running jobs survive
#             a controller restart and finish)
#   --purge   also delete the controller's and nodes' state and logs (job ids restart at 1)
set -euo pipefail
ROOT=${LRNN_SLURM_ROOT:-/tmp/lrnn-slurm}
RUN=$ROOT/run
export SLURM_CONF=$ROOT/etc/slurm.conf
cancel=0 purge=0
for a in "$@"; do
  case "$a" in
    --cancel) cancel=1 ;;
    --purge) purge=1 ;;
    *) echo "slurm-down.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
say() { printf '[slurm-down] %s\n' "$*" >&2; }
stop() { # NAME PIDFILE: SIGTERM, up to 10 s, then SIGKILL to that same pid
  local name=$1 pf=$2 pid
  [ -s "$pf" ] || { rm -f "$pf"; return 0; }
  pid=$(cat "$pf")
  if ! kill -0 "$pid" 2>/dev/null; then rm -f "$pf"; return 0; fi
  say "stopping $name (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then say "$name still runs: SIGKILL"; kill -KILL "$pid"; fi
  rm -f "$pf"
}
if [ "$cancel" = 1 ] && [ -f "$SLURM_CONF" ] && scontrol ping 2>/dev/null | grep -q UP; then
  for u in $(squeue -h -o %u 2>/dev/null | sort -u); do scancel --full --quiet --user="$u" || true; done
  for _ in $(seq 150); do [ -z "$(squeue -h -t PD,R,CG,S 2>/dev/null)" ] && break; sleep 0.1; done
fi
pids=()
for pf in "$RUN"/slurmd-*.pid; do
  [ -e "$pf" ] || continue
  n=${pf##*/slurmd-}
  stop "slurmd ${n%.pid}" "$pf" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
stop slurmctld "$RUN/slurmctld.pid"
if [ -e "$RUN/munged.ours" ]; then
  stop munged /run/munge/munged.pid
  rm -f "$RUN/munged.ours"
fi
if [ "$purge" = 1 ]; then
  say "purging state and logs"
  rm -rf "$ROOT"/state/ctld/* "$ROOT"/state/slurmd-* "$ROOT"/log/*.log
fi
say "down"
