#!/usr/bin/env bash
# The main job: installs what is missing, builds a release binary, runs the demo on the shipped models.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
hydrasim_setup
swift build -c release --product hydrasim
bin=.build/release/hydrasim
house=Fixtures/models/house
stories=Fixtures/models/stories260K/model.bin

if [ -f "$house/model.bin" ]; then
  echo
  echo "==> The house model: trained by HydraSim itself on Tiny Shakespeare ($house/MODEL_CARD.md)"
  "$bin" checkpoint info "$house/model.bin"
  echo
  echo "==> How its tokenizer cuts a line into pieces:"
  "$bin" tokenizer encode --tokenizer "$house/tokenizer.bin" --text "ROMEO: But, soft! what light through yonder window breaks?" --format text
  echo
  echo "==> Greedy continuation of a prompt, one token per forward pass:"
  "$bin" generate --prompt "ROMEO:" --greedy --max-tokens 120
  echo
  echo "==> Sampled (temperature 0.8, top-p 0.9, seed 7; the same seed gives the same text):"
  "$bin" generate --prompt "JULIET:" --temperature 0.8 --top-p 0.9 --seed 7 --max-tokens 120
fi

if [ -f "$house/medusa.heads" ] && [ -f "$house/hydra++.heads" ]; then
  echo
  echo "==> Speculative decoding, step by step: Medusa vs Hydra++ heads on the same prompt (mc_sim_7b_63 tree)."
  echo "    Medusa's heads guess each position alone, so every parent gets the same children (orange: repeated);"
  echo "    Hydra++'s heads see the path, so children follow their parent."
  "$bin" trace --prompt "ROMEO:" --decoders medusa,hydra++ --steps 20
else
  echo
  echo "==> (No shipped Medusa/Hydra++ heads in $house yet: 'hydrasim trace' needs medusa.heads and hydra++.heads;"
  echo "    train them with '$bin train heads --kind medusa --out $house/medusa.heads' and '--kind hydra++'.)"
fi

echo
echo "==> stories260K, a real third-party llama2.c checkpoint (Karpathy's tinyllamas, MIT)."
echo "    It ships without its tokenizer, so these are token ids: the ids llama2.c's run.c prints with -t 0."
"$bin" generate --checkpoint "$stories" --prompt-ids 1 --greedy --max-tokens 60 --format ids
echo
echo "==> Decoding speed of both models, 1 and 2 threads (interleaved rounds; see BENCHMARKS.md):"
"$bin" bench --checkpoint "$stories" --threads-list 1,2 --tokens 256 --rounds 3
[ -f "$house/model.bin" ] && "$bin" bench --checkpoint "$house/model.bin" --threads-list 1,2 --tokens 255 --rounds 3
echo
echo "Next: 'hydrasim --help'. Train your own model: '$bin train base --out Output/my-model --steps 200' (see README.md)."
