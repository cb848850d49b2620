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
# Knobs: ROUNDS (5), SECONDS_PER_RUN (8), NAMES (4000), FILL (100000).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
NAMES=${NAMES:-4000}
FILL=${FILL:-100000}
UPSTREAM=127.0.0.3:5310
UNBOUND_PORT=${UNBOUND_PORT:-5311}
HEARSAY_PORT=${HEARSAY_PORT:-5312}

cd "$(dirname "$0")/.."
for tool in unbound dnsperf taskset; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install unbound dnsperf util-linux)" >&2; exit 2; }
done
cargo build --release --quiet
hearsay=$PWD/target/release/hearsay

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

total=$((NAMES + FILL))
{
    echo '$ORIGIN bench.test.'
    echo '$TTL 86400'
    echo '@ SOA ns1 hostmaster 1 7200 3600 1209600 3600'
    echo '  NS ns1'
    echo 'ns1 A 192.0.2.1'
    for i in $(seq 1 "$total"); do
        echo "host$i A 10.$((i / 65536 % 256)).$((i / 256 % 256)).$((i % 256))"
        echo "host$i AAAA 2001:db8::$(printf %x:%x $((i >> 16)) $((i & 0xffff)))"
    done
} >"$work/bench.test.zone"
# Hits: mostly A, some AAAA, some cached NXDOMAIN.
{
    for i in $(seq 1 "$NAMES"); do
        echo "host$i.bench.test A"
        if (( i % 4 == 0 )); then echo "host$i.bench.test AAAA"; fi
        if (( i % 10 == 0 )); then echo "missing$i.bench.test A"; fi
    done
} >"$work/hits"
seq $((NAMES + 1)) "$total" | sed 's/.*/host&.bench.test A/' >"$work/fill"

cat >"$work/upstream.toml" <<EOF
[server]
listen = ["$UPSTREAM"]
threads = 1
[log]
level = "warn"
[[zone]]
origin = "bench.test."
file = "bench.test.zone"
EOF
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
upstreams = ["$UPSTREAM"]
EOF
cat >"$work/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@$UNBOUND_PORT
    num-threads: 1
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "$work"
    pidfile: "$work/unbound.pid"
    logfile: ""
    use-syslog: no
    verbosity: 0
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    # Like hearsay today: no DNSSEC validation, no prefetch.
    module-config: "iterator"
    prefetch: no
    rrset-cache-size: 512m
    msg-cache-size: 256m
    # hearsay's default; Unbound's own default is 1232 too.
    edns-buffer-size: 1232
    # test. is one of Unbound's built-in empty zones (RFC 6761).
    local-zone: "test." nodefault
forward-zone:
    name: "."
    forward-addr: ${UPSTREAM/:/@}
EOF

taskset -c 1 "$hearsay" serve --config "$work/upstream.toml" &
pids+=($!)
taskset -c 0 unbound -d -c "$work/unbound.conf" &
pids+=($!)
unbound_pid=$!
taskset -c 0 "$hearsay" serve --config "$work/hearsay.toml" &
pids+=($!)
hearsay_pid=$!

wait_ready() {
    for _ in $(seq 1 100); do
        if dig +short +tries=1 +time=1 @127.0.0.1 -p "$1" host1.bench.test A | grep -q 10.; then return 0; fi
        sleep 0.2
    done
    echo "server on port $1 did not come up" >&2
    exit 1
}
wait_ready "$UNBOUND_PORT"
wait_ready "$HEARSAY_PORT"
for pid in "$unbound_pid" "$hearsay_pid"; do
    kill -0 "$pid" 2>/dev/null || { echo "a server exited at start (port taken?)" >&2; exit 1; }
done

cpu_ticks() {
    local stat fields
    stat=$(cat "/proc/$1/stat")
    fields=(${stat##*)})
    echo $((fields[11] + fields[12]))
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# Prints "us_per_query qps avg_latency_ms".
measure() {
    local port=$1 pid=$2 file=$3 before after out completed qps latency
    before=$(cpu_ticks "$pid")
    out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$file" -l "$SECONDS_PER_RUN" -c 4 -q 200 2>&1)
    after=$(cpu_ticks "$pid")
    completed=$(awk '/Queries completed:/ {print $3}' <<<"$out")
    qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
    latency=$(awk '/Average Latency/ {print $4}' <<<"$out")
    awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$completed" -v q="$qps" -v l="$latency" \
        'BEGIN { printf "%.3f %.0f %.3f\n", t / hz / n * 1e6, q, l * 1000 }'
}

# Warm both caches with one pass over the hit names.
for port in "$UNBOUND_PORT" "$HEARSAY_PORT"; do
    taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/hits" -n 1 -c 4 -q 100 >/dev/null 2>&1
done

echo "round  server   cpu_us/query      qps   latency_ms"
unbound_runs=() hearsay_runs=()
for round in $(seq 1 "$ROUNDS"); do
    read -r us qps lat < <(measure "$UNBOUND_PORT" "$unbound_pid" "$work/hits")
    unbound_runs+=("$us")
    printf "%5d  %-7s  %12s  %7s  %11s\n" "$round" unbound "$us" "$qps" "$lat"
    read -r us qps lat < <(measure "$HEARSAY_PORT" "$hearsay_pid" "$work/hits")
    hearsay_runs+=("$us")
    printf "%5d  %-7s  %12s  %7s  %11s\n" "$round" hearsay "$us" "$qps" "$lat"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
unbound_median=$(median "${unbound_runs[@]}")
hearsay_median=$(median "${hearsay_runs[@]}")
echo
echo "median CPU per cache hit: unbound ${unbound_median} us, hearsay ${hearsay_median} us"
awk -v h="$hearsay_median" -v u="$unbound_median" 'BEGIN { printf "ratio hearsay/unbound: %.2f (target: at most 1.00)\n", h / u }'

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
