#!/usr/bin/env bash
# hearsay's cache hits against Unbound's, both forwarding to the same
# upstream (hearsay authoritative for a generated zone), in one run:
#  1. CPU time per answered query on a warm cache (utime+stime from
#     /proc/PID/stat around a dnsperf run), servers pinned to CPU 0 with one
#     thread, dnsperf on CPU 1, measured in turn (A B A B ...), medians and
#     the ratio hearsay/Unbound, as ../shared/benchmarking.md describes;
#  2. resident memory per cached RRset: growth of each server's RSS while
#     FILL further names pass through its cache, divided by FILL.
#
# Needs: unbound, dnsperf, taskset (Debian: unbound dnsperf util-linux).
# Knobs: ROUNDS (5), SECONDS_PER_RUN (8), NAMES (4000), FILL (100000),
# BASELINE (the path of another hearsay binary to run in Unbound's place:
# a before/after check of a change).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
NAMES=${NAMES:-4000}
FILL=${FILL:-100000}
UPSTREAM=127.0.0.3:5310
UNBOUND_PORT=${UNBOUND_PORT:-5311}
HEARSAY_PORT=${HEARSAY_PORT:-5312}

cd "$(dirname "$0")/.."
source benches/common.sh
need unbound dnsperf taskset dig
cargo build --release --quiet
hearsay=$PWD/target/release/hearsay

bench_zone $((NAMES + FILL)) >"$work/bench.test.zone"
bench_queries "$NAMES" >"$work/hits"
seq $((NAMES + 1)) $((NAMES + FILL)) | sed 's/.*/host&.bench.test A/' >"$work/fill"

hearsay_auth_conf "$UPSTREAM" bench.test. bench.test.zone >"$work/upstream.toml"
cat >"$work/hearsay.toml" <<EOF
[server]
listen = ["127.0.0.1:$HEARSAY_PORT"]
threads = 1
[log]
level = "warn"
[cache]
max_size = "512 MiB"
prefetch = false
[resolver]
# The benchmark zone is unsigned, and Unbound here does not validate.
dnssec = false
upstreams = ["$UPSTREAM"]
[special_use]
# bench.test. is resolved, as Unbound's "test." nodefault below.
nodefault = ["test."]
EOF
{
    unbound_conf "$UNBOUND_PORT"
    cat <<EOF
    rrset-cache-size: 512m
    msg-cache-size: 256m
    # hearsay's default; Unbound's own default is 1232 too.
    edns-buffer-size: 1232
forward-zone:
    name: "."
    forward-addr: ${UPSTREAM/:/@}
EOF
} >"$work/unbound.conf"

taskset -c 1 "$hearsay" serve --config "$work/upstream.toml" &
pids+=($!)
if [ -n "${BASELINE:-}" ]; then
    sed -e "s/127.0.0.1:$HEARSAY_PORT/127.0.0.1:$UNBOUND_PORT/" \
        "$work/hearsay.toml" >"$work/baseline.toml"
    # A build from before [special_use] (the last section) has no such key.
    if ! "$BASELINE" check-config "$work/baseline.toml" >/dev/null 2>&1; then
        sed -i -e '/^\[special_use\]/,$d' "$work/baseline.toml"
    fi
    taskset -c 0 "$BASELINE" serve --config "$work/baseline.toml" &
else
    taskset -c 0 unbound -d -c "$work/unbound.conf" &
fi
pids+=($!)
unbound_pid=$!
taskset -c 0 "$hearsay" serve --config "$work/hearsay.toml" &
pids+=($!)
hearsay_pid=$!

wait_ready "$UNBOUND_PORT" host1.bench.test 10.
wait_ready "$HEARSAY_PORT" host1.bench.test 10.
alive "$unbound_pid" "$hearsay_pid"

# Warm both caches with one pass over the hit names.
for port in "$UNBOUND_PORT" "$HEARSAY_PORT"; do
    taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/hits" -n 1 -c 4 -q 100 >/dev/null 2>&1
done

compare unbound "$UNBOUND_PORT" "$unbound_pid" "$HEARSAY_PORT" "$hearsay_pid" "$work/hits"

# Memory: both caches take FILL more names, one RRset each.
echo
unbound_before=$(rss_kb "$unbound_pid")
hearsay_before=$(rss_kb "$hearsay_pid")
for port in "$UNBOUND_PORT" "$HEARSAY_PORT"; do
    taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/fill" -n 1 -c 4 -q 100 >/dev/null 2>&1
done
unbound_after=$(rss_kb "$unbound_pid")
hearsay_after=$(rss_kb "$hearsay_pid")
awk -v ub="$unbound_before" -v ua="$unbound_after" -v hb="$hearsay_before" -v ha="$hearsay_after" -v n="$FILL" 'BEGIN {
    u = (ua - ub) * 1024 / n; h = (ha - hb) * 1024 / n;
    printf "resident memory per cached RRset (%d names): unbound %.0f bytes, hearsay %.0f bytes\n", n, u, h;
    printf "ratio hearsay/unbound: %.2f\n", h / u }'
