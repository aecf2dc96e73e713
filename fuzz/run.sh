#!/usr/bin/env bash
# Coverage-guided fuzzing of one parser with AFL++ and SharpFuzz.
#
#   fuzz/run.sh TARGET SECONDS        TARGET: safetensors | config | vocab | tokenizer | zip | onnx
#
# Builds fuzz/MLNetTuning.Fuzz in Release, instruments a copy of MLNetTuning.dll (only our code is instrumented: the
# coverage that matters is that of our parsers), and runs afl-fuzz for SECONDS from the seeds in fuzz/corpus/TARGET.
# Findings land in fuzz/findings/TARGET/default/{crashes,hangs} (not committed); replay one with
#   dotnet fuzz/out/TARGET/bin/MLNetTuning.Fuzz.dll TARGET --replay FILE
# and add it as a regression test. Needs afl++ (Debian: apt-get install -y afl++); the SharpFuzz instrumenter comes
# from the repository's tool manifest (.config/dotnet-tools.json).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:?usage: fuzz/run.sh TARGET SECONDS}"
seconds="${2:?usage: fuzz/run.sh TARGET SECONDS}"
[[ -d "fuzz/corpus/$target" ]] || { echo "unknown target '$target': expected one of $(ls fuzz/corpus | tr '\n' ' ')" >&2; exit 2; }
command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found: apt-get install -y afl++" >&2; exit 2; }

dotnet tool restore >/dev/null
dotnet build fuzz/MLNetTuning.Fuzz -c Release -v q -nologo
# A fresh copy each run: instrumenting rewrites the dll in place, and a second pass over an instrumented dll fails.
# Hard links keep the 500 MB of native libraries from being copied; MLNetTuning.dll itself is a real copy.
# One copy per target, so that several targets can run at once (one afl-fuzz per core).
bin="fuzz/out/$target/bin"
rm -rf "$bin" && mkdir -p "fuzz/out/$target"
cp -al fuzz/MLNetTuning.Fuzz/bin/Release/net10.0 "$bin"
rm "$bin/MLNetTuning.dll" && cp fuzz/MLNetTuning.Fuzz/bin/Release/net10.0/MLNetTuning.dll "$bin/MLNetTuning.dll"
# Only the namespaces that parse files (and the transformers' zip loaders): instrumented code must not run before
# SharpFuzz has mapped afl's coverage bitmap, and the native loader's module initializer does (sharpfuzz issue #34:
# an AccessViolationException in <Module>..cctor).
dotnet sharpfuzz "$bin/MLNetTuning.dll" MLNetTuning.Checkpoints MLNetTuning.Text MLNetTuning.Models MLNetTuning.MlNet \
  MLNetTuning.IO MLNetTuning.Pretrained MLNetTuning.Training MLNetTuning.BertFineTuneTransformer MLNetTuning.BertEmbeddingsTransformer

findings="fuzz/findings/$target"
rm -rf "$findings" && mkdir -p fuzz/findings
# The target is `dotnet`, not an afl-instrumented binary (SKIP_BIN_CHECK); a shared machine needs no core pinning
# (NO_AFFINITY); no core dumps or CPU-governor tuning are assumed.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export DOTNET_TieredPGO=0 DOTNET_TC_QuickJitForLoops=1
# -t: a parser that needs more than 5 s for a few-kB input is a hang. -m none: the CLR reserves far more virtual memory
# than afl's default limit; over-allocation is caught inside the harness instead (OverAllocationException).
afl-fuzz -i "fuzz/corpus/$target" -o "$findings" -t 5000 -m none -V "$seconds" -- dotnet "$bin/MLNetTuning.Fuzz.dll" "$target" || true

stats="$findings/default/fuzzer_stats"
if [[ -f "$stats" ]]; then
  echo "== $target: $(grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|bitmap_cvg)' "$stats" | tr -s ' ' | tr '\n' ' ')"
else
  echo "== $target: afl-fuzz wrote no statistics (see its output above)" >&2
  exit 1
fi
