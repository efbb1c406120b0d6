#!/usr/bin/env bash
# Every GPU measurement the open issues ask for, in one device-tool call of at most 9 minutes:
#   1. the headline in both prompt formats side by side, and a third qboth headline with a %64
#      stage, four questions inside every training story (?4) and chrono-initialised memory
#      gates (experiments/README.md: *Short segments at 0k*, *Questions inside the story*,
#      *Making the memory hold*): nine trainings share the one GPU,
#      each with TRAIN_SECONDS of training; qlast and the variant are evaluated on fewer samples
#      to fit the budget,
#   2. bench.py: the three memories at the shape in one run, then the GPT-2-small shape.
# Every step runs under `timeout`, so a hang costs only its own slot. Logs and results go to $OUT:
# seven small files, the rest in one tarball (the device tool fetches at most 8 files).
#
#   OUT=/tmp/gpu bash experiments/gpu_session.sh          # on the GPU machine (from the repo root)
#   OUT=/tmp/gpu DRY=1 bash experiments/gpu_session.sh    # the same steps at toy sizes on the CPU
set -u
OUT=${OUT:-out/gpu_session}
mkdir -p "$OUT"
export TIKTOKEN_CACHE_DIR=${TIKTOKEN_CACHE_DIR:-../shared/tiktoken_cache}
TRAIN_SECONDS=${TRAIN_SECONDS:-180}
if [ -n "${DRY:-}" ]; then
    TOY="--n_layer=1 --n_head=2 --n_embd=32 --segment_len=64"
    HEADLINE="--cpu --tasks=qa1 --lengths=0k,1k --max_samples=2"
    FEWER_SAMPLES="--max_samples=2"
    TRAIN="$TOY --tasks=qa1 --curriculum=0k:2000,1k:10 --train_samples=32 --eval_samples=2"
    TRAIN="$TRAIN --mem_slots=4 --mem_heads=2 --batch_size=4 --eval_interval=1000"
    VARIANT="--curriculum=0k:1000?2,0k:10~5e-4%32?2,1k:10?2 --mem_chrono=4"
    BENCH="$TOY --n_segments=2 --batch_size=2 --steps=2 --warmup_steps=1"
    GPT2="$BENCH --memory=none"
    TRAIN_SECONDS=5
else
    HEADLINE=""
    FEWER_SAMPLES="--lengths=0k,1k,2k,4k --max_samples=50"
    TRAIN=""
    # the GPU configs' curriculum with a %64 stage after a shorter whole-story one, four
    # questions inside each training story in every stage, and LM2's gates chrono-initialised for
    # time scales up to 32 segments (16k in 512-token pieces; RMT and vanilla have no such gates)
    VARIANT="--curriculum=0k:1000@0.95?4,0k:500~5e-4%64?4,1k:1500@0.9?4,2k:1500?4 --mem_chrono=32"
    BENCH=""
    GPT2="--memory=none --n_embd=768 --n_layer=12 --n_head=12 --segment_len=1024 --n_segments=1"
    GPT2="$GPT2 --batch_size=16"
fi

step() {  # step NAME SECONDS COMMAND...: run it under timeout, output in $OUT/NAME.log
    local name=$1 limit=$2
    shift 2
    echo "== $name: start $(date +%T), limit $limit s"
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    echo "== $name: exit $? at $(date +%T)"
}

{ nvidia-smi || true; python -c "import torch; print('torch', torch.__version__)"; } \
    > "$OUT/device.log" 2>&1
step headline_qlast 390 python headline.py $HEADLINE $FEWER_SAMPLES --out="$OUT/qlast" \
    --train_args="$TRAIN --time_limit=$TRAIN_SECONDS --prompt_format=qlast" &
step headline_qboth 390 python headline.py $HEADLINE --out="$OUT/qboth" \
    --train_args="$TRAIN --time_limit=$TRAIN_SECONDS --prompt_format=qboth" &
step headline_variant 390 python headline.py $HEADLINE $FEWER_SAMPLES --out="$OUT/variant" \
    --train_args="$TRAIN --time_limit=$TRAIN_SECONDS --prompt_format=qboth $VARIANT" &
wait
step bench 100 python bench.py --memory=all $BENCH
step bench_gpt2 50 python bench.py $GPT2
# the small files stay loose; logs, plots and tables of every run go into one tarball
for run in qlast qboth variant; do
    cp "$OUT/$run/headline.md" "$OUT/headline_$run.md" 2>/dev/null
done
tar -czf "$OUT/runs.tar.gz" --exclude="*.pt" -C "$OUT" qboth qlast variant \
    headline_qlast.log headline_qboth.log headline_variant.log 2>/dev/null
rm -rf "$OUT/qboth" "$OUT/qlast" "$OUT/variant" "$OUT"/headline_*.log
ls -l "$OUT"
