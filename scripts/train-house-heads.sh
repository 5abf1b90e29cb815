#!/usr/bin/env bash
# Trains the shipped draft heads for the house model (Fixtures/models/house/*.heads) and their
# accuracy tables. Usage: bash scripts/train-house-heads.sh [steps]   (about 75 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-4000}
swift build -c release --product hydrasim
# A private copy of the binary, so rebuilding during the run cannot change it.
bin=$(mktemp /tmp/hydrasim.XXXXXX)
cp .build/release/hydrasim "$bin" && chmod 755 "$bin"
trap 'rm -f "$bin"' EXIT
house=Fixtures/models/house
log=Output/heads-training
mkdir -p "$log"
train() {  # name, then options
  local name=$1; shift
  echo "==> $name: hydrasim train heads $* --heads 4 --steps $steps --lr 3e-3 --out $house/$name.heads" >&2
  local start=$SECONDS
  "$bin" train heads "$@" --heads 4 --steps "$steps" --lr 3e-3 --out "$house/$name.heads" > "$log/$name.json" 2> "$log/$name.log"
  echo "$((SECONDS - start)) s" > "$log/$name.time"
}
train medusa --kind medusa
train hydra --kind hydra
train hydra++ --kind hydra++
train hydra-teacher --kind hydra --teacher
train hydra-prefix --kind hydra --prefix-attention
train hydra-deep --kind hydra --layers 4 --dropout 0.2
train hydra-shared --kind hydra --shared-classifier
train hydra-distilled --kind hydra --teacher --data greedy --greedy-prompts 1000
for name in medusa hydra hydra++ hydra-teacher hydra-prefix hydra-deep hydra-shared hydra-distilled; do
  "$bin" heads accuracy --heads "$house/$name.heads" --split val --top 10 --format json > "$log/$name.val.json" 2>/dev/null
  "$bin" heads accuracy --heads "$house/$name.heads" --split greedy --top 10 --format json > "$log/$name.greedy.json" 2>/dev/null
done
echo "done: $log" >&2
