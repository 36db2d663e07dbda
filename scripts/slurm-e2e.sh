#!/usr/bin/env bash
# End to end on a real Slurm: installs Slurm and munge from Debian's packages (if missing),
# starts a one-node cluster on this machine (slurmctld + slurmd, state in a temporary folder,
# a minimal slurm.conf written here), and checks a small study (n-gram, 2 arms x 3 seeds,
# 3 generations) run as the job array `plan --slurm` writes:
#   1. every task finishes, the report job runs after the last of them and shows intervals
#      over the three seeds, and the files equal those of the same spec run in one process;
#   2. a task cancelled midway (scancel) and resubmitted alone resumes to the same files.
# It stops the cluster and leaves nothing running. About 3 minutes on 2 cores.
#   sudo bash scripts/slurm-e2e.sh      (root: it starts munged and the Slurm daemons)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
cargo build --release -q
bin=$root/target/release/collapse-lab

tmp=$(mktemp -d /tmp/slurm-e2e.XXXXXX)
conf=$tmp/slurm.conf
export SLURM_CONF=$conf
cleanup() {
  set +e
  scancel --quiet --user=root 2>/dev/null
  for pidfile in "$tmp"/slurmctld.pid "$tmp"/slurmd.pid "$tmp"/munged.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
  done
  sleep 1
  pkill -f "slurmstepd.*$tmp" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# munge: a key of our own, a socket in the temporary folder.
mkdir -p "$tmp/munge"
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 700 "$tmp/munge"
chmod 400 "$tmp/munge/munge.key"
munged --force --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/socket" \
  --pid-file="$tmp/munged.pid" --log-file="$tmp/munge/log" --seed-file="$tmp/munge/seed"
host=$(hostname -s)
cpus=$(nproc)
cat >"$conf" <<CONF
ClusterName=e2e
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/socket
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=3600
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
mkdir -p "$tmp/state" "$tmp/spool"
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 60); do
  sinfo -h -o %t 2>/dev/null | grep -qx idle && break
  sleep 1
done
sinfo -h -o %t | grep -qx idle || { echo "the Slurm node did not come up:"; tail "$tmp"/slurm*.log; exit 1; }
echo "cluster up: $(sinfo -h -o '%P %D node(s) %c CPUs %t')"

spec=$tmp/e2e.toml
cat >"$spec" <<SPEC
name = "e2e"
corpus = "embedded:kjv"
model = "ngram:3"
arms = ["replace", "accumulate"]
seeds = [1, 2, 3]
generations = 3
SPEC

wait_for() { # job ids...; fails after 5 minutes rather than hang
  for _ in $(seq 300); do
    [ -z "$(squeue -h -j "$(IFS=,; echo "$*")" 2>/dev/null)" ] && return 0
    sleep 1
  done
  echo "FAIL: jobs $* still queued or running after 5 minutes"; squeue; exit 1
}
state_of() { scontrol show job "$1" | grep -o 'JobState=[A-Z_]*' | sort | uniq -c | tr '\n' ' '; }
same_files() { # two workdirs: the chains' files byte for byte
  diff -r --exclude=.lock "$1/corpora" "$2/corpora" >/dev/null &&
    diff -r --exclude=.lock "$1/checkpoints" "$2/checkpoints" >/dev/null &&
    diff -r --exclude=.lock "$1/evals" "$2/evals" >/dev/null
}

# 1. The array and its report job.
array_dir=$tmp/array
start=$(date +%s)
"$bin" --quiet --workdir "$array_dir" plan "$spec" --slurm --cpus-per-task 1 --max-parallel "$cpus" >/dev/null
submitted=$(bash "$array_dir/plans/e2e-slurm/submit.sh")
echo "$submitted"
array=$(grep -o 'job array [0-9]*' <<<"$submitted" | grep -o '[0-9]*')
report=$(grep -o 'report job [0-9]*' <<<"$submitted" | grep -o '[0-9]*')
wait_for "$array" "$report"
echo "array and report done in $(($(date +%s) - start)) s: array $(state_of "$array"); report $(state_of "$report")"
[ "$(state_of "$array" | xargs)" = "6 JobState=COMPLETED" ] || { echo "FAIL: not every task completed"; exit 1; }
[ "$(state_of "$report" | xargs)" = "1 JobState=COMPLETED" ] || { echo "FAIL: the report job did not complete"; exit 1; }
html=$array_dir/evals/report-e2e-replace+accumulate/report.html
last_task=$(stat -c %Y "$array_dir"/evals/e2e-*/metrics.csv | sort -n | tail -1)
[ "$(stat -c %Y "$html")" -ge "$last_task" ] || { echo "FAIL: the report is older than a task"; exit 1; }
grep -q 'mean of 3 seeds, 95% CI' "$html" || { echo "FAIL: no intervals over 3 seeds in the report"; exit 1; }
one=$tmp/one
start=$(date +%s)
"$bin" --quiet --workdir "$one" run "$spec" >/dev/null
echo "the same spec in one process: $(($(date +%s) - start)) s"
same_files "$one" "$array_dir" || { echo "FAIL: the array's files differ from one process's"; exit 1; }
echo "PASS: 6 tasks and the report job ran; files identical to one process's run"

# 2. A task cancelled midway resumes when resubmitted alone.
cut=$tmp/cut
"$bin" --quiet --workdir "$cut" plan "$spec" --slurm --cpus-per-task 1 >/dev/null
sbatch_dir=$cut/plans/e2e-slurm
mkdir -p "$sbatch_dir/logs"
job=$(cd "$sbatch_dir" && sbatch --parsable --array=4 array.sbatch)
job=${job%%;*}
for _ in $(seq 1500); do
  [ -f "$cut/evals/e2e-accumulate-s2/gen-00.json" ] && break
  sleep 0.2
done
[ -f "$cut/evals/e2e-accumulate-s2/gen-00.json" ] || { echo "FAIL: task 4 wrote no generation in 5 minutes"; exit 1; }
scancel "$job"
wait_for "$job"
done_before=$(ls "$cut"/evals/e2e-accumulate-s2/gen-*.json | wc -l)
echo "task 4 cancelled after $done_before of 3 generations ($(state_of "$job"))"
[ "$done_before" -lt 3 ] || { echo "FAIL: the task finished before it was cancelled"; exit 1; }
job=$(cd "$sbatch_dir" && sbatch --parsable --array=4 array.sbatch)
job=${job%%;*}
wait_for "$job"
grep -q "already finished (resumed)" "$sbatch_dir"/logs/task-4-"$job".log ||
  { echo "FAIL: the resubmitted task did not resume"; cat "$sbatch_dir"/logs/task-4-"$job".log; exit 1; }
for d in corpora checkpoints evals; do
  diff -r --exclude=.lock "$one/$d/e2e-accumulate-s2" "$cut/$d/e2e-accumulate-s2" >/dev/null ||
    { echo "FAIL: the resumed chain's $d differ"; exit 1; }
done
echo "PASS: task 4 cancelled midway, resubmitted alone, resumed to the same files"
