#!/usr/bin/env bash
# The GPU check (issue 48, item 6): speed of the package's models on one H100 or H200 and the quick suite on it,
# in at most 8 minutes. On a lent GPU, in one call from any folder:
#
#     bash bench/gpu_check.sh; git add bench/results/gpu-*.json; git commit -m "GPU check on <device>: ..."
#
# (each step writes its JSON even when another step fails: commit them either way and say which step failed;
# the log's last line says whether all steps passed).
#
# Steps (bench/gpu_check.py <step>, one process each; each prints the device, a table, and writes
# bench/results/gpu-<step>.json with the device's name, the torch version, the commit, the settings and the
# measurements; with no CUDA device and no --dry-run the first step exits 2 and so does this script), with
# their budgets (plus a few seconds each to start Python and CUDA):
#
#   lstm-generate   LSTM generation at 16 384 trajectories x 2048 frames: fast path fp32      60 s
#                   and TF32, plain loop fp32
#   transformer     Transformer generation with and without its KV cache, batch 1, 64, 1024   60 s
#   train           LSTM training tokens/s (fp32, TF32, bf16 autocast; lm.train.fit)          60 s
#   suite           notebooks' quick profile with --device cuda (runs/gpu-check-quick/)       the rest, to 470 s
#
# A step that uses up its budget stops repeating and skips its remaining rows (listed in its JSON); each step
# also runs under `timeout` (budget + 30 s), and the suite is stopped when the total reaches 470 s (8 min =
# 480 s): a cut-off suite continues with `bash bench/gpu_check.sh --only suite --resume`.
#
# Options:
#   --dry-run        every step at toy size on the CPU (< 2 min; the suite step runs the suite runner on a
#                    stand-in notebook); JSON goes to a new temporary folder unless --out-dir is given
#   --out-dir DIR    where gpu-<step>.json are written (default bench/results, or a temporary folder)
#   --only A,B       run only these steps (comma-separated)
#   --resume         suite: skip the notebooks already finished in runs/gpu-check-quick/
#
# Exit status: 0 all steps passed, 1 a step failed or the suite was cut off, 2 no CUDA device (without
# --dry-run) or a usage error. Environment: GPU_CHECK_SUITE_JOBS (notebooks at once on the GPU, default 4),
# GPU_CHECK_DRY_NOTEBOOK=01 (dry run: run that tutorial notebook's smoke profile instead of the stand-in).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python; fi

DRY=0
OUT_DIR=""
ONLY=""
RESUME=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --out-dir) [[ $# -ge 2 ]] || { echo "gpu_check.sh: --out-dir needs a folder" >&2; exit 2; }; OUT_DIR="$2"; shift ;;
    --only) [[ $# -ge 2 ]] || { echo "gpu_check.sh: --only needs step names" >&2; exit 2; }; ONLY="$2"; shift ;;
    --resume) RESUME=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

STEPS=(lstm-generate transformer train suite)
if [[ -n "$ONLY" ]]; then
  IFS=',' read -r -a WANTED <<< "$ONLY"
  for s in "${WANTED[@]}"; do
    [[ " ${STEPS[*]} " == *" $s "* ]] || { echo "gpu_check.sh: unknown step '$s' (steps: ${STEPS[*]})" >&2; exit 2; }
  done
  STEPS=("${WANTED[@]}")
fi

COMMON=()
if [[ $DRY == 1 ]]; then
  COMMON+=(--dry-run)
  [[ -n "$OUT_DIR" ]] || OUT_DIR="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_dryrun.XXXXXX")"
  TOTAL=105; STEP_BUDGET=20
else
  [[ -n "$OUT_DIR" ]] || OUT_DIR=bench/results
  TOTAL=470; STEP_BUDGET=60
fi
[[ $RESUME == 1 ]] && COMMON+=(--resume)
COMMON+=(--out-dir "$OUT_DIR")

if command -v timeout >/dev/null 2>&1; then TIMEOUT=(timeout --kill-after=10); else TIMEOUT=(); fi
limit() { if [[ ${#TIMEOUT[@]} -gt 0 ]]; then echo "${TIMEOUT[@]}" "$1"; fi; }

START=$SECONDS
declare -a REPORT=()
FAILED=0
for step in "${STEPS[@]}"; do
  if [[ $step == suite ]]; then
    budget=$(( TOTAL - (SECONDS - START) - 10 ))
    (( budget >= 45 )) || budget=45
  else
    budget=$STEP_BUDGET
  fi
  echo
  echo "== $step (budget ${budget} s)"
  t0=$SECONDS
  rc=0
  $(limit $(( budget + 30 ))) "$PY" bench/gpu_check.py "$step" --budget "$budget" "${COMMON[@]}" || rc=$?
  if [[ $rc -eq 2 ]]; then  # no CUDA device (the step said why) or a usage error: nothing to measure
    echo "gpu_check.sh: $step refused to run (exit 2); nothing measured" >&2
    exit 2
  fi
  case $rc in
    0) status=ok ;;
    3) status="cut off by its budget (--only suite --resume continues)"; FAILED=1 ;;
    124|137) status="killed after $(( budget + 30 )) s"; FAILED=1 ;;
    *) status="failed (exit $rc)"; FAILED=1 ;;
  esac
  REPORT+=("$(printf '%-14s %5d s  %s' "$step" $(( SECONDS - t0 )) "$status")")
done

echo
echo "== summary ($( [[ $DRY == 1 ]] && echo 'dry run, toy sizes on the CPU' || echo 'GPU' ))"
printf '%s\n' "${REPORT[@]}"
echo "results: $OUT_DIR/gpu-*.json"
echo "gpu_check.sh finished in $(( SECONDS - START )) s: $( [[ $FAILED == 0 ]] && echo 'all steps passed' || echo 'some step failed' )"
exit "$FAILED"
