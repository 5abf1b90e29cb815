#!/usr/bin/env bash
# The test command: installs what is missing, then runs the whole suite (debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
hydrasim_setup tests
swift build --build-tests
swift test --skip-build "$@"
