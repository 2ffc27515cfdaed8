#!/bin/bash
# Issue 15: wall and CPU time of the whole ci catalogue with controls (the `ntkbench run` that `nox -s reproduce`
# issues before the mitigation) from an empty output folder, on this machine, as in the README table ("Running in
# parallel"). Run it with nothing else on the machine: each mode takes about an hour on 2 cores.
#
#   bash reproduce/probes/015_catalogue_timing.sh point|local|before [ENGINE] [OUT]
#
# point:  the point-level scheduler (`--jobs 2`) of commit ENGINE (default: HEAD);
# local:  the same on a Dask LocalCluster (`--jobs 2 --scheduler local`);
# before: the claim-level pool (whole claims on 2 processes) of commit 7347600, running ENGINE's engine and claims
#         (analytic.py, kernels.py, networks.py, claims/: the files that changed since) so that it measures the same.
# Writes OUT/MODE.time (wall, user, system seconds, CPU %) and OUT/MODE.log (the run's report); OUT defaults to
# /tmp/ntkbench-timing. PROFILE=smoke runs the smoke catalogue instead (1–2 minutes). The checkout is a git
# worktree under OUT, removed at the end.
set -euo pipefail
mode=${1:?usage: 015_catalogue_timing.sh point|local|before [ENGINE] [OUT]}
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
engine=$(git -C "$repo" rev-parse "${2:-HEAD}")
out=$(realpath -m "${3:-/tmp/ntkbench-timing}")
case $mode in
  point|local) rev=$engine ;;
  before) rev=7347600 ;;
  *) echo "mode: point, local or before" >&2; exit 2 ;;
esac
mkdir -p "$out"
wt=$out/checkout_$mode
git -C "$repo" worktree add --detach "$wt" "$rev" >/dev/null
trap 'git -C "$repo" worktree remove --force "$wt"' EXIT
if [ "$mode" = before ]; then
  git -C "$wt" checkout "$engine" -- ntkbench/analytic.py ntkbench/kernels.py ntkbench/networks.py ntkbench/claims
fi
extra=()
if [ "$mode" = local ]; then extra=(--scheduler local); fi
rm -rf "$out/results_$mode"
cd "$wt"
OMP_NUM_THREADS=1 PYTHONPATH=$wt NTKBENCH_GIT=$rev /usr/bin/time -f "%e s wall, %U s user, %S s sys, %P CPU" \
  -o "$out/$mode.time" python -m ntkbench run --controls --profile "${PROFILE:-ci}" --jobs 2 "${extra[@]}" \
  --out "$out/results_$mode" --quiet > "$out/$mode.log" 2>&1 || true
grep -E "^[0-9]+ results" "$out/$mode.log" || tail -5 "$out/$mode.log"
cat "$out/$mode.time"
