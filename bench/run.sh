#!/usr/bin/env bash
# The benchmark command: MLNetTuning side by side with the peers of ../shared/peers (PyTorch eager, ONNX Runtime, the FMA
# peak), interleaved round by round, then the real-data epoch and memory runs. Results go to bench/results/.
#   bench/run.sh [steps|epoch|accuracy|token|multilabel|qa|memory|family|all] [ROUNDS]        (default: all 5)
# Extra workers for the steps table (for example a build of an older commit) can be added as EXTRA_WORKERS='--worker name=CMD'.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
what=${1:-all}
rounds=${2:-5}
peers_src="$here/../../shared/peers"
# A writable copy (shared/ is read-only), outside the repository so that its central package versions do not apply.
peers="${BENCH_PEERS:-$HOME/.cache/mlnettuning/bench-peers}"
out="$here/results"
bin="$here/.bin"
mkdir -p "$out"

dotnet build "$here/MLNetTuning.Bench" -c Release -o "$bin" -nologo -v q
if [ ! -f "$peers/models/minilm/model.onnx" ] || [ ! -x "$peers/cs/OrtBert/out/OrtBert" ]; then
  rm -rf "$peers" && cp -r "$peers_src" "$peers" && chmod -R u+w "$peers"
  (cd "$peers" && ./run.sh build)
fi

if [ "$what" = steps ] || [ "$what" = all ]; then
  (cd "$peers" && /usr/bin/python3 interleave.py --rounds "$rounds" --out "$out/steps.json" \
    --worker pytorch='env OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 py/bert_worker.py models/minilm/model.onnx 2' \
    --worker ort='cs/OrtBert/out/OrtBert models/minilm/model.onnx 2' \
    --worker mlnettuning-fp32="$bin/MLNetTuning.Bench worker --precision fp32 --threads 2" \
    --worker mlnettuning-bf16="$bin/MLNetTuning.Bench worker --precision bf16 --threads 2" \
    --worker fma=peak/fma_worker.sh ${EXTRA_WORKERS:-} \
    --job 'fma 2' --job 'train 16 128 2' --job 'train 32 64 2' \
    --job 'infer 16 128 3' --job 'infer 32 64 3' --job 'infer 1 128 10' \
    --job 'train-tok 16 128 2' --job 'train-qa 16 128 2') | tee "$out/steps.md"
fi
cd "$here/.."   # the epoch and accuracy runs read samples/data
if [ "$what" = epoch ] || [ "$what" = all ]; then
  { "$bin/MLNetTuning.Bench" epoch --threads 2 --precision fp32 && echo && "$bin/MLNetTuning.Bench" epoch --threads 2 --precision bf16; } | tee "$out/epoch.md"
fi
if [ "$what" = accuracy ] || [ "$what" = all ]; then
  "$bin/MLNetTuning.Bench" accuracy --threads 2 | tee "$out/accuracy.md"
fi
if [ "$what" = token ] || [ "$what" = all ]; then
  "$bin/MLNetTuning.Bench" token --threads 2 --rounds 3 | tee "$out/token-classification.md"
fi
if [ "$what" = multilabel ] || [ "$what" = all ]; then
  "$bin/MLNetTuning.Bench" multilabel --threads 2 --rounds 4 | tee "$out/multi-label.md"
fi
if [ "$what" = qa ] || [ "$what" = all ]; then
  "$bin/MLNetTuning.Bench" qa --threads 2 --rounds 3 | tee "$out/question-answering.md"
fi
if [ "$what" = memory ] || [ "$what" = all ]; then
  # The main job as a user runs it: the command line built on its own, then run with the phase report on.
  dotnet build "$here/../src/MLNetTuning.Cli" -c Release -o "$here/.cli" -nologo -v q
  "$bin/MLNetTuning.Bench" memory --cli "$here/.cli/mlnet-tune" --runs 3 | tee "$out/memory.md"
fi
if [ "$what" = family ] || [ "$what" = all ]; then
  { "$bin/MLNetTuning.Bench" family --threads 2 --precision fp32 --rounds "$rounds" && echo && "$bin/MLNetTuning.Bench" family --threads 2 --precision bf16 --rounds "$rounds"; } | tee "$out/families.md"
fi
