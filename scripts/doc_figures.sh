#!/usr/bin/env bash
# Regenerate the figures under docs/img/ from tiny real runs on the bundled 8x8 digits (CPU, one thread,
# about 8 minutes on a 2-core machine). Usage: scripts/doc_figures.sh [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-runs/doc_figures}
PV=".venv/bin/pixelvit"
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
mkdir -p docs/img "$WORK"

$PV demo --out "$WORK/demo"
$PV attention-distance "$WORK/demo/patch1" "$WORK/demo/patch2" --num-images 64 --out "$WORK/analysis"
$PV attention-maps "$WORK/demo/patch1" --index 0 --query 3,4 --out "$WORK/analysis/attention_maps.png"
$PV pe-similarity "$WORK/demo/patch1" --out "$WORK/analysis/pe_similarity.png"
$PV pe-study digits --out "$WORK/pe_study" model.name=vit_t/2 train.epochs=20
$PV permutation-study digits --pairs 0,16,32 --deltas 1,inf --out "$WORK/permutation" model.name=vit_t/2 train.epochs=20
$PV patch-sweep digits --mode both --patch-sizes 1,2,4 --out "$WORK/patch_sweep" model.name=vit_t/2 train.epochs=20

cp "$WORK/demo/accuracy_vs_patch.png" docs/img/demo_accuracy_vs_patch.png
cp "$WORK/analysis/attention_distance.png" "$WORK/analysis/attention_maps.png" "$WORK/analysis/pe_similarity.png" docs/img/
cp "$WORK/pe_study/pe_study.png" "$WORK/permutation/permutation_study.png" "$WORK/patch_sweep/patch_sweep.png" docs/img/
ls -l docs/img

# The Fashion-MNIST panels of the README (about 20 minutes on 2 cores; needs the dataset, see data/fashion_mnist.py):
# $PV patch-sweep fashion_mnist_14 --mode fixed-length --grid 14 --patch-sizes 1,2,4,7 --out "$WORK/sweep_fmnist" train.epochs=6
# $PV patch-sweep fashion_mnist_14 --mode fixed-input --patch-sizes 7,4,2,1 --out "$WORK/sweep_fmnist" data.img_size=[28,28] \
#     train.epochs=6
# cp "$WORK/sweep_fmnist/patch_sweep.png" docs/img/patch_sweep_fashion.png
