#!/usr/bin/env bash
# Coverage-guided fuzzing of the loaders with libFuzzer (a developer run, not CI; see RELIABILITY.md).
#   bash scripts/libfuzzer.sh checkpoint 60     # target (checkpoint|tokenizer|heads|tree|trace), seconds
# Builds Fuzz/HydraFuzz with -sanitize=fuzzer into .build-fuzz (release, about 5 minutes the first time), seeds
# a corpus from the fixtures and the regression corpus (Tests/FuzzCorpus), and runs libFuzzer. Crashing inputs
# are written to Output/libfuzzer/<target>/crash-*; keep the interesting ones in Tests/FuzzCorpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-checkpoint}"
seconds="${2:-60}"
HYDRASIM_LIBFUZZER=1 swift build -c release --product HydraFuzz --scratch-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library -Xswiftc -use-ld=lld
work="Output/libfuzzer/$target"
corpus="$work/corpus"
mkdir -p "$corpus"
case "$target" in
  checkpoint) cp Fixtures/models/stories260K/model.bin "$corpus/stories260K.bin" ;;
  tokenizer) cp Fixtures/models/house/tokenizer.bin "$corpus/house-tokenizer.bin" ;;
  heads) cp Fixtures/models/house/medusa.heads "$corpus/medusa.heads" ;;
  tree) cp Fixtures/trees/*.json "$corpus/" ;;
  trace) ;;
esac
cp Tests/FuzzCorpus/"$target"/* "$corpus/" 2>/dev/null || true
cd "$work"
SWIFT_BACKTRACE=enable=no HYDRASIM_FUZZ_TARGET="$target" ../../../.build-fuzz/release/HydraFuzz -max_total_time="$seconds" -max_len=2000000 \
  -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 corpus
