#!/usr/bin/env bash
# The whole ganctl chain as a plain shell script: each stage reads the files the last one wrote.
#
#   bash examples/pipeline.sh [OUT_DIR]        # default runs/demo; CPU, tiny presets, built-in sprites data
#
# Most of the budget goes to training (TRAIN_STEPS), so the final grid shows recognisable shapes.
# Environment knobs: DATA (default sprites; `shapes` is the harder built-in set), DEVICE (default auto),
# SEED (default 0), TRAIN_STEPS (default 3,400 on CPUs with bf16 instructions, the preset's 2,600 elsewhere),
# TRAIN_FLAGS (more `ganctl train` flags; default "--d-width 48 --precision bf16" there, none elsewhere),
# FINETUNE_STEPS (default 100; 0 skips it), DISTILL_WEIGHT (default 1), DGL=1, GANCTL_INCEPTION_WEIGHTS (real
# FID; without it evaluate uses the labelled randconv proxy), FROM=compress (reuse the search and train folders
# already in OUT_DIR).
set -euo pipefail

OUT=${1:-runs/demo}
DATA=${DATA:-sprites}
TRAIN_STEPS=${TRAIN_STEPS:-}  # empty: the tiny preset's length
# On a CPU with native bf16 (AVX512-BF16 or AMX-BF16), D width 48 under bf16 autocast trains as fast as the
# preset's D width 32 in fp32 and scored Inception FID-500 83.7 against 113.9 (means over seeds 0-4 at the
# preset's 2,600 steps), and 3,400 steps of it scored 74.2 (seeds 0-3, each lower than at 2,600) for about 400 s
# of training at 2 threads (the preset: 365 s). Elsewhere bf16 is emulated and slow, so the preset runs as it
# is. Setting TRAIN_FLAGS, even empty, overrides this choice; TRAIN_STEPS overrides the step count.
if [ -z "${TRAIN_FLAGS+set}" ] && grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null; then
  TRAIN_FLAGS="--d-width 48 --precision bf16"
  TRAIN_STEPS=${TRAIN_STEPS:-3400}
fi
read -r -a TRAIN_EXTRA <<< "${TRAIN_FLAGS:-}"  # split on spaces like a command line (no quoting)
TRAIN_ARGS=(${TRAIN_STEPS:+--steps "$TRAIN_STEPS"} ${TRAIN_EXTRA[@]+"${TRAIN_EXTRA[@]}"})  # beyond the preset
# The cell to train: the paper's published searched cell (built in) by default. A 6-step CPU search only
# demonstrates the stage: its cell is close to random and trains to blobs in this budget. `searched`
# trains the cell just searched instead; any built-in genotype name or genotype.json path works.
GENOTYPE=${GENOTYPE:-mmd-adversarialnas-cifar10}
DEVICE=${DEVICE:-auto}
SEED=${SEED:-0}
COMMON=(--device "$DEVICE" --seed "$SEED")
EXTRACTOR=auto
[ -n "${GANCTL_INCEPTION_WEIGHTS:-}" ] || EXTRACTOR=randconv
start=$(date +%s)

FROM=${FROM:-search}
case "$FROM" in search|compress) ;; *) echo "FROM=$FROM: choose search (the whole chain) or compress (rerun from compress on)" >&2; exit 2 ;; esac
if [ "$FROM" = search ]; then
echo "== 1/5 search: differentiable architecture search (AdversarialNAS + MMD) =="
ganctl search --data "$DATA" --method adversarialnas --preset tiny --out "$OUT/search" --force "${COMMON[@]}" --quiet

SHOWN=${TRAIN_ARGS[*]+"${TRAIN_ARGS[*]}"}
echo "== 2/5 train: $GENOTYPE, MMD repulsive loss + PMish, EMA${SHOWN:+ ($SHOWN)} =="
[ "$GENOTYPE" = searched ] && GENOTYPE="$OUT/search/genotype.json"
ganctl train --data "$DATA" --preset tiny --genotype "$GENOTYPE" --out "$OUT/train" --force \
  ${TRAIN_ARGS[@]+"${TRAIN_ARGS[@]}"} "${COMMON[@]}" --quiet
fi

# ARD under a parameter budget of 75 %, then 100 fine-tuning steps with output distillation from the dense G
# (--distill-weight). On this pipeline's generator (16 px, batch 64, 3,400 steps, D width 48 in bf16) the
# decomposed G, at 74 % of the parameters, scored Inception FID-500 62.0 without the fine-tune and 62.1 with it
# (KID-500 0.043 and 0.041; dense 59.3), for about 6 s more; on the 2,600-step one 96.4 and 88.4 (dense 93.6),
# and on the D width 32 fp32 one 113.5 and 103.5 (dense 105.5). On the earlier 1,800-step preset's generator
# (FID-1k / KID-1k proxy): decomposed 1.45 / 0.0049, 150 GAN steps 1.28 / 0.0041, with --distill-weight 1
# 0.97 / 0.0022 (dense 1.21 / 0.0041).
# DGL=1 adds the trained D as DGL teacher.
FINETUNE_STEPS=${FINETUNE_STEPS:-100}
DISTILL_WEIGHT=${DISTILL_WEIGHT:-1}
TEACHER=()
[ "${DGL:-0}" = 1 ] && TEACHER=(--teacher-d "$OUT/train/discriminator.safetensors")
DISTILL=()
[ "$FINETUNE_STEPS" -gt 0 ] && DISTILL=(--distill-weight "$DISTILL_WEIGHT")
echo "== 3/5 compress: Adaptive Rank Decomposition (--rank auto, --target-params 0.75), $FINETUNE_STEPS fine-tuning steps =="
# ARD probes the layers that hold the parameters (the latent projections and the cells' 3×3 convs; the
# 1×1 up/skip convs hold 272 parameters each), which halves the probes of the stage.
ganctl compress "$OUT/train/best_generator.safetensors" --rank auto --target-params 0.75 --data "$DATA" \
  --layers 'latent_proj.*' --layers 'cells.*.c*.conv' \
  --out "$OUT/compress" --finetune-steps "$FINETUNE_STEPS" --batch-size 32 ${TEACHER[@]+"${TEACHER[@]}"} \
  ${DISTILL[@]+"${DISTILL[@]}"} \
  --probe-samples 256 --force "${COMMON[@]}" --quiet

echo "== 4/5 evaluate: dense vs compressed between held-out real images (floor) and matched noise (ceiling) =="
ganctl evaluate "$OUT/train/best_generator.safetensors" "$OUT/compress/generator.safetensors" --data "$DATA" \
  --metrics fid,kid --num-samples 1000 --num-reference 2000 --extractor "$EXTRACTOR" --batch-size 250 \
  --reference-points --out "$OUT/evaluate" --force "${COMMON[@]}"

echo "== 5/5 sample: pictures from the compressed generator =="
mkdir -p "$OUT/sample"
# the resolution the generator was trained at (the tiny preset's 16 px unless overridden)
RES=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["resolution"])' "$OUT/train/config.json")
SCALE=$(( (64 + RES - 1) / RES ))  # grids enlarged by whole pixels to about 64 px per image
ganctl sample "$OUT/compress/generator.safetensors" --num 64 --scale "$SCALE" --grid "$OUT/sample/grid.png" \
  "${COMMON[@]}" --quiet
ganctl sample "$OUT/compress/generator.safetensors" --num 4 --interpolate 8 --scale "$SCALE" \
  --grid "$OUT/sample/interpolation.png" "${COMMON[@]}" --quiet

python -m ganctl.report "$OUT" > /dev/null
python -m ganctl.report --summary "$OUT" "$(( $(date +%s) - start ))"
