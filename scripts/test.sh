#!/usr/bin/env bash
# The test command: installs what is missing, then runs the whole suite.
# Optimised build with testing enabled (the numeric tests run about 10x faster than in a debug build), in its own
# build folder so that it never invalidates the demo's release build. HYDRASIM_LONG_TESTS=1 (set by CI) adds the
# long runs: every README and demo command, longer property runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
hydrasim_setup tests
scratch=.build-tests
swift build -c release --build-tests -Xswiftc -enable-testing --scratch-path "$scratch"
swift test -c release --skip-build -Xswiftc -enable-testing --scratch-path "$scratch" "$@"
