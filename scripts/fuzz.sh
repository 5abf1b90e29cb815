#!/usr/bin/env bash
# The long fuzz run (issue 14): every loader and the numeric options, HYDRASIM_FUZZ_CASES cases per format
# (default 10000), plus the SIGKILL tests repeated HYDRASIM_KILL_RUNS times (default 12).
# Prints one line per format and writes the statistics (JSON lines) to Output/fuzz-report.jsonl.
# A case that traps ends the test process: the format and case index are in Output/fuzz-last-case.txt, and the same
# case is produced again by the same index (the cases are seeded).
#   bash scripts/fuzz.sh            # a few minutes on 2 cores
#   HYDRASIM_FUZZ_CASES=100000 bash scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
hydrasim_setup tests
mkdir -p Output
export HYDRASIM_FUZZ_CASES="${HYDRASIM_FUZZ_CASES:-10000}"
export HYDRASIM_KILL_RUNS="${HYDRASIM_KILL_RUNS:-12}"
export HYDRASIM_FUZZ_REPORT="$PWD/Output/fuzz-report.jsonl"
export HYDRASIM_FUZZ_LAST="$PWD/Output/fuzz-last-case.txt"
rm -f "$HYDRASIM_FUZZ_REPORT"
# The same optimised test build as scripts/test.sh.
scratch=.build-tests
swift build -c release --build-tests -Xswiftc -enable-testing --scratch-path "$scratch"
start=$(date +%s)
swift test -c release --skip-build -Xswiftc -enable-testing --scratch-path "$scratch" \
  --filter 'LoaderFuzzTests|OptionFuzzTests|ReliabilityTests|LessonsTests|InterpreterTests' 2>&1 | grep -E '^fuzz |^kill |✘|passed after|failed after' || true
echo "fuzz run: $(( $(date +%s) - start )) s; statistics in $HYDRASIM_FUZZ_REPORT"
