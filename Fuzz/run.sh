#!/usr/bin/env bash
# `make fuzz`: coverage-guided fuzzing of every parser of outside input with libFuzzer.
#
#   1. writes the seed corpora (the in-suite corpus builder: FuzzTests' SeedCorpusExport);
#   2. builds Fuzz/ with -sanitize=fuzzer,address (one executable per parser);
#   3. runs each target for FUZZ_SECONDS (default 60) on its corpus and prints the executions
#      and crashes per target. Crash inputs land in $FUZZ_WORK/artifacts; turn each into a
#      regression test in Tests/FuzzTests/RegressionTests.swift.
#
# Environment: FUZZ_SECONDS, FUZZ_TARGETS (space-separated subset), FUZZ_WORK (default
# Fuzz/.work: corpora, artifacts, logs; gitignored), SWIFT, SCRATCH_PATH (the root package's
# --scratch-path for the seed export, default .build).
# Exit status: 0 when no target crashed, 1 otherwise, 2 when the build failed.
set -uo pipefail
cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-swift}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
WORK=${FUZZ_WORK:-Fuzz/.work}
TARGETS=${FUZZ_TARGETS:-fuzz-json fuzz-spec fuzz-idx fuzz-gzip fuzz-safetensors fuzz-summary fuzz-png}
BUILD=(-c release --package-path Fuzz --scratch-path Fuzz/.build
       -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xcc -fsanitize=fuzzer-no-link,address)
SEED_BUILD=(-c release)
if [ -n "${SCRATCH_PATH:-}" ]; then SEED_BUILD+=(--scratch-path "$SCRATCH_PATH"); fi
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

echo "== seed corpora -> $WORK/seeds"
rm -rf "$WORK/seeds"
if ! VAELAB_FUZZ_CORPUS_DIR="$WORK/seeds" OPENBLAS_NUM_THREADS=1 \
     "$SWIFT" test "${SEED_BUILD[@]}" --filter SeedCorpusExport >"$WORK/seeds.log" 2>&1; then
    tail -20 "$WORK/seeds.log"
    echo "fuzz: could not write the seed corpora (see $WORK/seeds.log)"
    exit 2
fi
grep '^seed corpus' "$WORK/seeds.log"

echo "== building the libFuzzer targets (Fuzz/, -sanitize=fuzzer,address)"
if ! "$SWIFT" build "${BUILD[@]}" >"$WORK/build.log" 2>&1; then
    tail -30 "$WORK/build.log"
    echo "fuzz: the libFuzzer build failed (see $WORK/build.log)"
    exit 2
fi
BIN=$("$SWIFT" build "${BUILD[@]}" --show-bin-path)

# Leaks are not part of the contract (and Foundation's FileManager.contents(atPath:) leaks 4 KB
# on an empty file, which LeakSanitizer would report at exit as a crash of the last input).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
status=0
summary=()
for target in $TARGETS; do
    corpus="$WORK/corpus/$target"
    mkdir -p "$corpus" "$WORK/artifacts" "$WORK/logs"
    log="$WORK/logs/$target.log"
    before=$(ls "$WORK/artifacts" | grep -c "^$target-" || true)
    echo "== $target: ${FUZZ_SECONDS}s"
    # -malloc_limit_mb: any single allocation over 512 MB is reported (the parsers must not
    # allocate far beyond their input); leaks are not part of the contract.
    "$BIN/$target" "$corpus" "$WORK/seeds/$target" \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
        -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$WORK/artifacts/$target-" >"$log" 2>&1
    code=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if [ -z "$execs" ]; then execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#'); fi
    after=$(ls "$WORK/artifacts" | grep -c "^$target-" || true)
    crashes=$((after - before))
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    line="$target: ${execs:-0} executions in ${FUZZ_SECONDS}s, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) inputs, $crashes crashes"
    echo "$line"
    summary+=("$line")
    if [ "$crashes" -gt 0 ] || [ "$code" -ne 0 ]; then
        status=1
        grep -E 'ERROR: |Fatal error|SUMMARY|Test unit written' "$log" | head -8
        ls "$WORK/artifacts" | grep "^$target-" | sed "s|^|  artifact: $WORK/artifacts/|"
    fi
done

echo "== libFuzzer summary"
printf '%s\n' "${summary[@]}"
exit $status
