#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, JOBS at a time
# (default 2), and prints the executions each made. With RUNS set, a
# target stops after that many executions if SECONDS have not passed
# (RUNS=10000000 fuzz/run.sh 7200: a campaign of 10 million each). Exits non-zero if any
# target found a crash, a hang (an input over 10 s) or an allocation over
# 512 MiB; what it found is in fuzz/artifacts/TARGET/.
#
#   fuzz/run.sh SECONDS [TARGET...]
#
# Needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz).
# Seeds are in fuzz/seeds/TARGET (committed); what the fuzzer learns goes
# to fuzz/corpus/TARGET (not committed) and is reused by the next run.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
jobs=${JOBS:-2}
# The slowest first, so a campaign with RUNS set ends sooner.
all=(zone_file config responder server_response sibling_packet cache_file validation)
targets=("${@:-${all[@]}}")
# No sanitizer: the fuzzed code is safe Rust, and ASan would halve the
# executions. Debug assertions on, for overflow checks.
flags=(-s none -a)
# One build, then the binaries run directly: `cargo fuzz run` would check
# (and redo) the build for every target.
cargo +nightly fuzz build "${flags[@]}" >build.log 2>&1 || { cat build.log; exit 1; }
bin=target/$(rustc +nightly -vV | awk '/^host:/ {print $2}')/release
logs=$(mktemp -d)
run() {
    local target=$1
    mkdir -p "corpus/$target" "artifacts/$target"
    "$bin/$target" "corpus/$target" "seeds/$target" \
        -max_total_time="$seconds" ${RUNS:+-runs=$RUNS} -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
        -artifact_prefix="artifacts/$target/" -print_final_stats=1 >"$logs/$target" 2>&1
}
failed=()
running=0
for target in "${targets[@]}"; do
    run "$target" &
    eval "pid_$target=$!"
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true
printf '%-16s %14s %10s %8s  %s\n' target executions exec/s corpus result
for target in "${targets[@]}"; do
    log="$logs/$target"
    runs=$(awk '/^stat::number_of_executed_units:/ {print $2}' "$log")
    rate=$(awk '/^stat::average_exec_per_sec:/ {print $2}' "$log")
    units=$(find "corpus/$target" -type f | wc -l)
    if grep -qE '^==[0-9]+== ERROR|panicked at|deadly signal|Test unit written|SUMMARY: libFuzzer' "$log"; then
        result=FAILED
        failed+=("$target")
    else
        result=ok
    fi
    printf '%-16s %14s %10s %8s  %s\n' "$target" "${runs:-?}" "${rate:-?}" "$units" "$result"
done
for target in "${failed[@]}"; do
    echo "--- $target" >&2
    grep -E -B2 -A20 'panicked at|ERROR|deadly signal|Test unit written' "$logs/$target" | head -60 >&2
done
rm -rf "$logs"
[ "${#failed[@]}" -eq 0 ]
