#!/usr/bin/env bash
# A real one-node Slurm for the tests, without systemd or cgroups:
#   cluster.sh start DIR   writes DIR/slurm.conf, starts munged (if needed), slurmctld and slurmd
#   cluster.sh stop DIR    cancels every job, then stops the two daemons by their pid files
# Needs root and the Debian packages slurmctld slurmd slurm-client munge (`make setup`).
set -euo pipefail
cmd=${1:?start or stop}
DIR=${2:?state directory}
export SLURM_CONF="$DIR/slurm.conf"

# Starts a daemon with no inherited descriptor but stdout and stderr. Foundation's Process (the
# Swift tests) gives its child a socket and waits until every holder has closed it: a daemon
# that kept it would hang the test for ever (munged does keep what it inherits).
detached() {
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec "$@" </dev/null
  )
}

if [ "$cmd" = stop ]; then
  scancel --user="$(id -un)" 2>/dev/null || true
  for i in $(seq 50); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
  for d in slurmd slurmctld; do
    pid=$(cat "$DIR/$d.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || continue
    # Wait until it is gone (the next cluster needs its ports), then insist.
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  exit 0
fi

mkdir -p "$DIR"/{spool,state,log} /run/munge /etc/munge
chown munge:munge /run/munge /etc/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
fi
pgrep -x munged >/dev/null || detached su -s /bin/sh munge -c /usr/sbin/munged
host=$(hostname -s)
node=$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$host/")
cat > "$SLURM_CONF" <<CONF
ClusterName=vaelabtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
ReturnToService=2
MpiDefault=none
MinJobAge=2
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
detached slurmctld -f "$SLURM_CONF"
detached slurmd -f "$SLURM_CONF"
for i in $(seq 100); do
  sinfo -h -o %T 2>/dev/null | grep -q idle && exit 0
  sleep 0.1
done
echo "cluster.sh: the node did not become idle; see $DIR/log" >&2
exit 1
