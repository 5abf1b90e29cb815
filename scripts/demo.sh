#!/usr/bin/env bash
# The main job: installs what is missing, builds a release binary, runs the demo on the shipped model.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
hydrasim_setup
swift build -c release --product hydrasim
bin=.build/release/hydrasim
model=Fixtures/models/stories260K/model.bin

echo
echo "==> The shipped model: stories260K, a real llama2.c checkpoint (Karpathy's tinyllamas, MIT)"
"$bin" checkpoint info "$model"
echo
echo "==> Greedy decoding from BOS, 200 tokens. stories260K comes without its tokenizer, so these are token ids"
echo "    (the same ids llama2.c's run.c prints with -t 0; HydraSim's own house model, with text, comes next)."
"$bin" generate --checkpoint "$model" --prompt-ids 1 --greedy --max-tokens 200 --format ids
echo
echo "==> The same run as JSON, with its speed:"
"$bin" generate --checkpoint "$model" --prompt-ids 1 --greedy --max-tokens 200 --format json | grep -E '"(stop_reason|tokens_per_second|generation_seconds)"'
echo
echo "==> Decoding speed, 1 and 2 threads (interleaved rounds):"
"$bin" bench --checkpoint "$model" --threads-list 1,2 --tokens 256 --rounds 3
