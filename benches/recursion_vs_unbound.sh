#!/usr/bin/env bash
# hearsay's recursion against Unbound's, both resolving from the same local
# root, in one run, as ../shared/benchmarking.md describes:
#  - cold: NAMES unique names under a delegated wildcard (every query a miss
#    that needs the leaf zone's server), each asked once, fresh names for
#    every run;
#  - warm: the same names again, from the cache.
# For each: resolver CPU time per resolved query (NOERROR answers), and
# queries that reached the authoritative servers per resolved name (counted
# by nftables), medians of ROUNDS alternating runs and the ratios
# hearsay/Unbound.
#
# The hierarchy (hearsay authoritative servers: the root on 127.0.0.20, the
# test. TLD on 127.0.0.21, bench.test. with "* A" on 127.0.0.22) listens on
# port 53, because Unbound only asks authoritative servers there; so this
# needs root. Resolvers are pinned to CPU 0, the hierarchy and dnsperf to
# CPU 1.
#
# Needs: root, unbound, dnsperf, nft, taskset, dig.
# Knobs: ROUNDS (5), SECONDS_PER_RUN (8, warm runs), NAMES (400000 per cold
# run).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
NAMES=${NAMES:-400000}
UNBOUND_PORT=${UNBOUND_PORT:-5311}
HEARSAY_PORT=${HEARSAY_PORT:-5312}

cd "$(dirname "$0")/.."
source benches/common.sh
need unbound dnsperf nft taskset dig
if [ "$(id -u)" != 0 ]; then echo "needs root (port 53, nftables)" >&2; exit 2; fi
cargo build --release --quiet
hearsay=$PWD/target/release/hearsay

cat >"$work/root.zone" <<ZONE
\$ORIGIN .
\$TTL 86400
@ SOA a.root-servers.test. hostmaster.test. 1 1800 900 604800 86400
  NS a.root-servers.test.
a.root-servers.test. A 127.0.0.20
test. NS ns.test.
ns.test. A 127.0.0.21
ZONE
cat >"$work/test.zone" <<ZONE
\$ORIGIN test.
\$TTL 86400
@ SOA ns hostmaster 1 1800 900 604800 300
  NS ns
ns A 127.0.0.21
a.root-servers A 127.0.0.20
bench NS ns.bench
ns.bench A 127.0.0.22
ZONE
cat >"$work/bench.zone" <<ZONE
\$ORIGIN bench.test.
\$TTL 86400
@ SOA ns hostmaster 1 1800 900 604800 300
  NS ns
ns A 127.0.0.22
* A 192.0.2.1
ZONE
printf '. 3600000 NS a.root-servers.test.\na.root-servers.test. 3600000 A 127.0.0.20\n' >"$work/root.hints"

for spec in "root 20 ." "test 21 test." "bench 22 bench.test."; do
    read -r name last origin <<<"$spec"
    cat >"$work/$name.toml" <<CONF
[server]
listen = ["127.0.0.$last:53"]
threads = 1
[log]
level = "warn"
[resolver]
mode = "off"
[[zone]]
origin = "$origin"
file = "$name.zone"
CONF
    taskset -c 1 "$hearsay" serve --config "$work/$name.toml" &
    pids+=($!)
done

cat >"$work/hearsay.toml" <<CONF
[server]
listen = ["127.0.0.1:$HEARSAY_PORT"]
threads = 1
[log]
level = "warn"
[cache]
max_size = "4 GiB"
prefetch = false
[resolver]
mode = "recursive"
root_hints = "root.hints"
timeout = "5s"
CONF
{
    unbound_conf "$UNBOUND_PORT"
    cat <<CONF
    root-hints: "$work/root.hints"
    rrset-cache-size: 2g
    msg-cache-size: 2g
CONF
} >"$work/unbound.conf"

taskset -c 0 unbound -d -c "$work/unbound.conf" &
pids+=($!)
unbound_pid=$!
taskset -c 0 "$hearsay" serve --config "$work/hearsay.toml" &
pids+=($!)
hearsay_pid=$!
wait_ready "$UNBOUND_PORT" x.bench.test 192.0.2.1
wait_ready "$HEARSAY_PORT" x.bench.test 192.0.2.1
alive "$unbound_pid" "$hearsay_pid"

# Count what reaches the authoritative servers.
nft add table inet hearsay_bench
trap 'nft delete table inet hearsay_bench 2>/dev/null || true; cleanup' EXIT
nft add chain inet hearsay_bench input '{ type filter hook input priority 0; }'
nft add rule inet hearsay_bench input ip daddr 127.0.0.20/30 udp dport 53 counter
nft add rule inet hearsay_bench input ip daddr 127.0.0.20/30 tcp dport 53 tcp flags syn counter
authoritative_queries() {
    nft list table inet hearsay_bench | awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }'
}

# run PORT PID FILE DNSPERF_ARGS...: prints "us_per_answer
# queries_per_answer answers qps".
run() {
    local port=$1 pid=$2 file=$3 before after auth_before auth_after out answered qps
    shift 3
    auth_before=$(authoritative_queries)
    before=$(cpu_ticks "$pid")
    out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$file" -c 4 -q 200 -t 5 "$@" 2>&1)
    after=$(cpu_ticks "$pid")
    auth_after=$(authoritative_queries)
    answered=$(awk '/Response codes:/ { for (i = 1; i <= NF; i++) if ($i == "NOERROR") print $(i + 1) }' <<<"$out")
    qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
    awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="${answered:-0}" -v a=$((auth_after - auth_before)) -v q="$qps" \
        'BEGIN { if (n == 0) n = 1; printf "%.3f %.3f %d %.0f\n", t / hz / n * 1e6, a / n, n, q }'
}

names() { seq 1 "$NAMES" | sed "s/.*/$1&.bench.test A/"; }

report() {
    local what=$1
    shift
    local -n cpu_u=$1 cpu_h=$2 auth_u=$3 auth_h=$4
    local mu mh qu qh
    mu=$(median "${cpu_u[@]}") mh=$(median "${cpu_h[@]}") qu=$(median "${auth_u[@]}") qh=$(median "${auth_h[@]}")
    echo "$what: CPU per resolved query unbound $mu us, hearsay $mh us; authoritative queries per name unbound $qu, hearsay $qh"
    awk -v mu="$mu" -v mh="$mh" -v au="$qu" -v ah="$qh" -v what="$what" 'BEGIN {
        printf "%s ratios hearsay/unbound: CPU %.2f, authoritative queries %s (target: at most 1.00)\n",
            what, mh / mu, (au > 0 ? sprintf("%.2f", ah / au) : "n/a (none sent)") }'
}

echo "cold: unique names under *.bench.test"
echo "round  server   cpu_us/answer  auth/answer   answers      qps"
cu=() ch=() au=() ah=()
for round in $(seq 1 "$ROUNDS"); do
    names "u$round-" >"$work/cold-u"
    names "h$round-" >"$work/cold-h"
    read -r us auth n qps < <(run "$UNBOUND_PORT" "$unbound_pid" "$work/cold-u" -n 1)
    cu+=("$us") au+=("$auth")
    printf "%5d  %-7s  %13s  %11s  %8s  %7s\n" "$round" unbound "$us" "$auth" "$n" "$qps"
    read -r us auth n qps < <(run "$HEARSAY_PORT" "$hearsay_pid" "$work/cold-h" -n 1)
    ch+=("$us") ah+=("$auth")
    printf "%5d  %-7s  %13s  %11s  %8s  %7s\n" "$round" hearsay "$us" "$auth" "$n" "$qps"
done
cold_report=$(report cold cu ch au ah)

echo
echo "warm: 4000 names, cached"
seq 1 4000 | sed 's/.*/w&.bench.test A/' >"$work/warm"
for port in "$UNBOUND_PORT" "$HEARSAY_PORT"; do
    taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/warm" -n 1 -c 4 -q 100 >/dev/null 2>&1
done
echo "round  server   cpu_us/answer  auth/answer   answers      qps"
wu=() wh=() awu=() awh=()
for round in $(seq 1 "$ROUNDS"); do
    read -r us auth n qps < <(run "$UNBOUND_PORT" "$unbound_pid" "$work/warm" -l "$SECONDS_PER_RUN")
    wu+=("$us") awu+=("$auth")
    printf "%5d  %-7s  %13s  %11s  %8s  %7s\n" "$round" unbound "$us" "$auth" "$n" "$qps"
    read -r us auth n qps < <(run "$HEARSAY_PORT" "$hearsay_pid" "$work/warm" -l "$SECONDS_PER_RUN")
    wh+=("$us") awh+=("$auth")
    printf "%5d  %-7s  %13s  %11s  %8s  %7s\n" "$round" hearsay "$us" "$auth" "$n" "$qps"
done
echo
echo "$cold_report"
report warm wu wh awu awh
