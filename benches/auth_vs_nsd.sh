#!/usr/bin/env bash
# hearsay's authoritative answers against NSD's, serving the same zone, in
# one run: server CPU time per answered query (utime+stime from
# /proc/PID/stat around a dnsperf run), as ../shared/benchmarking.md
# describes. Servers are pinned to CPU 0 with one worker, dnsperf to CPU 1,
# and the two are measured in turn (A B A B ...); the medians and the
# ratio hearsay/NSD are printed.
#
# Needs: nsd, dnsperf, taskset (Debian: nsd dnsperf util-linux).
# Knobs: ROUNDS (5), SECONDS_PER_RUN (8), NAMES (4000), EDNS (0 or 1).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
NAMES=${NAMES:-4000}
EDNS=${EDNS:-0}
NSD_PORT=${NSD_PORT:-5301}
HEARSAY_PORT=${HEARSAY_PORT:-5302}

cd "$(dirname "$0")/.."
for tool in nsd dnsperf taskset; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install nsd dnsperf util-linux)" >&2; exit 2; }
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

# A zone of $NAMES hosts plus the usual apex data, and a query mix: mostly
# A, some AAAA and MX, and names that do not exist.
{
    echo '$ORIGIN bench.test.'
    echo '$TTL 3600'
    echo '@ SOA ns1 hostmaster 1 7200 3600 1209600 300'
    echo '  NS ns1'
    echo '  NS ns2'
    echo '  MX 10 mail'
    echo 'ns1 A 192.0.2.1'
    echo 'ns2 A 192.0.2.2'
    echo 'mail A 192.0.2.3'
    for i in $(seq 1 "$NAMES"); do
        echo "host$i A 10.$((i / 65536 % 256)).$((i / 256 % 256)).$((i % 256))"
        echo "host$i AAAA 2001:db8::$(printf %x:%x $((i >> 16)) $((i & 0xffff)))"
    done
} >"$work/bench.test.zone"
{
    for i in $(seq 1 "$NAMES"); do
        echo "host$i.bench.test A"
        if (( i % 4 == 0 )); then echo "host$i.bench.test AAAA"; fi
        if (( i % 10 == 0 )); then echo "missing$i.bench.test A"; fi
    done
    echo "bench.test MX"
} >"$work/queries"

cat >"$work/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$NSD_PORT
    server-count: 1
    username: ""
    zonesdir: "$work"
    pidfile: "$work/nsd.pid"
    database: ""
    xfrdfile: "$work/xfrd.state"
    zonelistfile: "$work/zone.list"
    logfile: "$work/nsd.log"
    verbosity: 0
    # Debian's NSD limits responses to 200/s per client network by default
    # (RRL); a benchmark from one address must turn that off.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: bench.test
    zonefile: bench.test.zone
EOF
cat >"$work/hearsay.toml" <<EOF
[server]
listen = ["127.0.0.1:$HEARSAY_PORT"]
threads = 1
[log]
level = "warn"
[[zone]]
origin = "bench.test."
file = "bench.test.zone"
EOF

taskset -c 0 nsd -d -c "$work/nsd.conf" &
pids+=($!)
nsd_pid=$!
taskset -c 0 "$hearsay" serve --config "$work/hearsay.toml" &
pids+=($!)
hearsay_pid=$!

wait_ready() {
    for _ in $(seq 1 100); do
        if dig +short +tries=1 +time=1 @127.0.0.1 -p "$1" host1.bench.test A >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "server on port $1 did not come up" >&2
    exit 1
}
wait_ready "$NSD_PORT"
wait_ready "$HEARSAY_PORT"
# Answers could come from a stray server already on the port.
for pid in "$nsd_pid" "$hearsay_pid"; do
    kill -0 "$pid" 2>/dev/null || { echo "a server exited at start (port taken?)" >&2; exit 1; }
done

# A process and all its descendants (NSD forks a server process from a
# child of the main one).
family() {
    local child
    echo "$1"
    for child in $(pgrep -P "$1" || true); do family "$child"; done
}

# CPU ticks of a process and its descendants.
cpu_ticks() {
    local total=0 pid stat fields
    for pid in $(family "$1"); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        # Fields after the last ')': state is field 3, utime 14, stime 15.
        fields=(${stat##*)})
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

edns_flag=()
if [[ "$EDNS" == 1 ]]; then edns_flag=(-e); fi

# Prints "us_per_query qps avg_latency_ms".
measure() {
    local port=$1 pid=$2 before after out completed qps latency
    before=$(cpu_ticks "$pid")
    out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries" -l "$SECONDS_PER_RUN" -c 4 -q 200 "${edns_flag[@]}" 2>&1)
    after=$(cpu_ticks "$pid")
    completed=$(awk '/Queries completed:/ {print $3}' <<<"$out")
    qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
    latency=$(awk '/Average Latency/ {print $4}' <<<"$out")
    awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$completed" -v q="$qps" -v l="$latency" \
        'BEGIN { printf "%.3f %.0f %.3f\n", t / hz / n * 1e6, q, l * 1000 }'
}

# One short pass each, so both have faulted in their data.
SECONDS_PER_RUN=1 measure "$NSD_PORT" "$nsd_pid" >/dev/null
SECONDS_PER_RUN=1 measure "$HEARSAY_PORT" "$hearsay_pid" >/dev/null

echo "round  server   cpu_us/query      qps   latency_ms"
nsd_runs=() hearsay_runs=()
for round in $(seq 1 "$ROUNDS"); do
    read -r us qps lat < <(measure "$NSD_PORT" "$nsd_pid")
    nsd_runs+=("$us")
    printf "%5d  %-7s  %12s  %7s  %11s\n" "$round" nsd "$us" "$qps" "$lat"
    read -r us qps lat < <(measure "$HEARSAY_PORT" "$hearsay_pid")
    hearsay_runs+=("$us")
    printf "%5d  %-7s  %12s  %7s  %11s\n" "$round" hearsay "$us" "$qps" "$lat"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
nsd_median=$(median "${nsd_runs[@]}")
hearsay_median=$(median "${hearsay_runs[@]}")
echo
echo "median CPU per query: nsd ${nsd_median} us, hearsay ${hearsay_median} us"
awk -v h="$hearsay_median" -v n="$nsd_median" 'BEGIN { printf "ratio hearsay/nsd: %.2f (target: at most 1.00)\n", h / n }'
