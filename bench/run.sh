#!/usr/bin/env bash
# The benchmark command: MLNetTuning side by side with the peers of ../shared/peers (PyTorch 2.6 and 1.13 eager, ONNX
# Runtime, the FMA peak), interleaved round by round, then the real-data epoch and memory runs. Results go to bench/results/.
#   bench/run.sh [steps|epoch|epoch-peer|transform-peer|accuracy|token|multilabel|qa|memory|family|all] [ROUNDS]   (default: all 5)
# Extra workers for the steps table (for example a build of an older commit) can be added as EXTRA_WORKERS='--worker name=CMD'.
# PyTorch 2.6 runs in a Debian 13 chroot at /opt/trixie, set up on first use (root; a few minutes, about 4 GB);
# BENCH_NO_PYTORCH26=1 leaves it out (the steps table runs without it; epoch-peer needs it and is skipped).
# Smaller runs of the two end-to-end parts for a check: EPOCH_PEER_ROWS, EPOCH_PEER_ROUNDS, TRANSFORM_PEER_TEXTS, TRANSFORM_PEER_ROUNDS.
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

# PyTorch 2.6 (Debian 13's python3-torch: oneDNN 3.7, OpenBLAS 0.3.29), the main peer, in a chroot that sees the peers
# copy at /peers. The peers' own `run.sh trixie` installs it; after a reboot only the two bind mounts are missing.
trixie=/opt/trixie
pytorch26_installed() { [ -x "$trixie/usr/bin/python3" ] && chroot "$trixie" python3 -c 'import torch, numpy, onnx' 2>/dev/null; }
setup_pytorch26() {
  if ! pytorch26_installed; then
    if [ "$(id -u)" != 0 ]; then
      echo "bench/run.sh: PyTorch 2.6 is not set up in $trixie, and setting it up needs root (debootstrap, chroot, mount)." \
           "Run bench/run.sh as root once, or set BENCH_NO_PYTORCH26=1 to leave PyTorch 2.6 out of the steps table." >&2
      exit 1
    fi
    (cd "$peers" && ./run.sh trixie)
  fi
  mountpoint -q "$trixie/proc" || mount --bind /proc "$trixie/proc"
  # /peers in the chroot must be this copy (its models and the epoch peer's batches), not an older one.
  if ! [ "$trixie/peers/run.sh" -ef "$peers/run.sh" ]; then
    if mountpoint -q "$trixie/peers"; then umount "$trixie/peers"; fi
    mkdir -p "$trixie/peers" && mount --bind "$peers" "$trixie/peers"
  fi
}
# The workers as the peers' README gives them: fp32 with torch's fused attention, and the same under bf16 autocast.
# OPENBLAS_CORETYPE=SkylakeX: this environment sets Haswell, which halves OpenBLAS's GEMM speed on this CPU.
pt26="chroot $trixie env OPENBLAS_CORETYPE=SkylakeX BERT_ATTN=sdpa"
pt26_bf16="$pt26 BERT_AMP=bf16"

if [ "$what" = steps ] || [ "$what" = all ]; then
  pt26_workers=()
  if [ "${BENCH_NO_PYTORCH26:-}" != 1 ]; then
    setup_pytorch26
    pt26_workers=(--worker pytorch26="$pt26 python3 /peers/py/bert_worker.py /peers/models/minilm/model.onnx 2"
                  --worker pytorch26-bf16="$pt26_bf16 python3 /peers/py/bert_worker.py /peers/models/minilm/model.onnx 2")
  fi
  # The first worker is the reference of interleave.py's ratio column: PyTorch 2.6, the main peer, when it is there.
  (cd "$peers" && /usr/bin/python3 interleave.py --rounds "$rounds" --out "$out/steps.json" "${pt26_workers[@]}" \
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
if [ "$what" = epoch-peer ] && [ "${BENCH_NO_PYTORCH26:-}" = 1 ]; then
  echo "bench/run.sh: epoch-peer trains against PyTorch 2.6, which BENCH_NO_PYTORCH26=1 leaves out." >&2
  exit 1
fi
if { [ "$what" = epoch-peer ] || [ "$what" = all ]; } && [ "${BENCH_NO_PYTORCH26:-}" != 1 ]; then
  # One real-data epoch through the estimator against PyTorch 2.6 training the very batches our Fit exported (into the peers
  # copy, which the chroot sees at /peers), fp32 and bf16 on both sides, interleaved.
  setup_pytorch26
  mkdir -p "$peers/bench" && cp "$here/peers/epoch_peer.py" "$peers/bench/"
  peer="python3 /peers/bench/epoch_peer.py --model /peers/models/minilm/model.onnx --batches /peers/bench/epoch-batches.bin --bert /peers/py --threads 2"
  # 400 e-mails (EpochBench's length 256 and batch 16): four runs a round at about a minute each on a quiet machine.
  "$bin/MLNetTuning.Bench" epoch-peer --threads 2 --rows "${EPOCH_PEER_ROWS:-400}" --rounds "${EPOCH_PEER_ROUNDS:-3}" --batches "$peers/bench/epoch-batches.bin" \
    --peer-fp32 "$pt26 $peer" --peer-bf16 "$pt26_bf16 $peer" | tee "$out/epoch-peer.md"
fi
if [ "$what" = transform-peer ] || [ "$what" = all ]; then
  # 10,000 texts a pass, about a minute per engine on a quiet machine: long passes, so two rounds show the spread.
  "$bin/MLNetTuning.Bench" transform-peer --threads 2 --texts "${TRANSFORM_PEER_TEXTS:-10000}" --rounds "${TRANSFORM_PEER_ROUNDS:-2}" | tee "$out/transform-peer.md"
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
