#!/usr/bin/env bash
# GPU smoke check of the upstream adapters: a tiny real run of each upstream recipe
# through the wrapper, printing the events it parsed. About a minute per adapter on an
# H100 once torch.compile's caches are warm (the first run compiles for longer).
#
#   evaluators/upstream/gpu_smoke.sh [parameter-golf] [nanochat-d12] [airbench96]
#
# Each adapter runs only when its three variables are set (no arguments: all of those):
#   parameter-golf  PG_CHECKOUT  PG_DATA (the checkout's data/ with sp1024)  PG_PYTHON
#   nanochat-d12    NC_CHECKOUT  NC_BASE (NANOCHAT_BASE_DIR: tokenizer, data,
#                                         eval_bundle)                         NC_PYTHON
#   airbench96      AB_CHECKOUT  AB_DATA (folder with cifar10 train.pt/test.pt) AB_PYTHON
# Optional: NPROC (default: the GPUs nvidia-smi lists; airbench always uses 1),
# WITH_SMOKE=1 (also run the preflight smoke form first), OUT (default: a temp dir).
#
# Per adapter it prints: the progress lines the wrapper emitted ({"step","loss"}), the
# verdict it wrote beside the artifact, the artifact's files, and the evaluate command's
# JSON line. Exit status: non-zero if a tiny run did not come back valid.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${REPO}/.venv/bin/python"
OUT="${OUT:-$(mktemp -d -t upstream-smoke-XXXX)}"
GPUS="$(nvidia-smi -L 2>/dev/null | wc -l)"
NPROC="${NPROC:-$(( GPUS > 0 ? GPUS : 1 ))}"
FAILED=0

# Tiny runs through each upstream's own knobs (env for train_gpt.py, flags for
# base_train.py; airbench has none: one real run, stopped after it is scored).
PG_TINY=(--env ITERATIONS=40 --env WARMUP_STEPS=2 --env TRAIN_LOG_EVERY=5 --env VAL_LOSS_EVERY=0)
NC_TINY=(--arg=--num-iterations=30 --arg=--core-metric-max-per-task=16
         --arg=--eval-tokens=1048576 --arg=--eval-every=15 --arg=--device-batch-size=8)

run_once() {  # adapter task-folder smoke(0|1): stage, run the wrapper, evaluate, print
    local adapter="$1" task="$2" smoke="$3"
    local work="${task}.work-${smoke}"
    rm -rf "$work" && mkdir -p "$work/artifacts" && cp -r "$task/recipe/." "$work/"
    local artifact="$work/artifacts/$([ "$smoke" = 1 ] && echo smoke || echo 0)"
    mkdir -p "$artifact"
    echo "== $adapter ($([ "$smoke" = 1 ] && echo smoke || echo tiny run)) in $work"
    local rc=0
    (cd "$work" && env -i PATH="/usr/local/bin:/usr/bin:/bin" HOME="$work" LANG=C.UTF-8 \
        AUTORECIPE_SEED=0 AUTORECIPE_ARTIFACT="$artifact" AUTORECIPE_SMOKE="$smoke" \
        PYTHONPATH="$REPO" "$PY" -P -m evaluators.upstream.run "$task/upstream.json" \
        > "$work/progress.jsonl" 2> "$work/train.log") || rc=$?
    echo "-- wrapper exit $rc; progress lines: $(wc -l < "$work/progress.jsonl")"
    head -n 3 "$work/progress.jsonl"; tail -n 2 "$work/progress.jsonl"
    echo "-- log tail:"; tail -n 6 "$work/train.log"
    echo "-- verdict:"; cat "$artifact.upstream.json" 2>/dev/null || echo "(none written)"
    echo "-- artifact:"; ls -l "$artifact"
    echo "-- evaluate:"
    local line
    line="$(PYTHONPATH="$REPO" "$PY" -m evaluators.upstream.evaluate --artifact "$artifact" | tail -n 1)"
    echo "$line"
    if [ "$rc" != 0 ] || ! echo "$line" | grep -q '"error": ""'; then FAILED=1; fi
}

smoke_adapter() {  # adapter checkout data python [init arguments...]
    local adapter="$1" checkout="$2" data="$3" python="$4"; shift 4
    local task="$OUT/$adapter"
    "$PY" -m evaluators.upstream.init "$adapter" --checkout "$checkout" --data "$data" \
        --python "$python" --out "$task" --force "$@"
    if [ "${WITH_SMOKE:-0}" = 1 ]; then run_once "$adapter" "$task" 1; fi
    run_once "$adapter" "$task" 0
}

want() { local name="$1"; shift; [ "${#ARGS[@]}" -eq 0 ] || [[ " ${ARGS[*]} " == *" $name "* ]]; }
ARGS=("$@")

if want parameter-golf && [ -n "${PG_CHECKOUT:-}" ]; then
    smoke_adapter parameter-golf "$PG_CHECKOUT" "$PG_DATA" "$PG_PYTHON" --nproc "$NPROC" "${PG_TINY[@]}"
fi
if want nanochat-d12 && [ -n "${NC_CHECKOUT:-}" ]; then
    smoke_adapter nanochat-d12 "$NC_CHECKOUT" "$NC_BASE" "$NC_PYTHON" --nproc "$NPROC" "${NC_TINY[@]}"
fi
if want airbench96 && [ -n "${AB_CHECKOUT:-}" ]; then
    smoke_adapter airbench96 "$AB_CHECKOUT" "$AB_DATA" "$AB_PYTHON"
fi
echo "outputs under $OUT"
exit "$FAILED"
