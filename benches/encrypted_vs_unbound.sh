#!/usr/bin/env bash
# hearsay's cache hits over DNS over TLS and DNS over HTTPS against
# Unbound's, in one run: both forward to the same upstream (hearsay
# authoritative for a generated zone), serve DoT and DoH with the same
# certificate, and are asked the same names by dnsperf -m dot and -m doh
# on a warm cache, over connections dnsperf keeps open (-c 4). CPU time
# per answered query, servers pinned to CPU 0 with one thread, dnsperf on
# CPU 1, in turn (A B A B ...), medians and the ratio hearsay/Unbound, as
# ../shared/benchmarking.md describes. TCP is measured too, for scale.
#
# Needs: unbound (built with nghttp2 for DoH, as Debian's is), dnsperf
# (with DoH), openssl, taskset.
# Knobs: ROUNDS (5), SECONDS_PER_RUN (8), NAMES (4000), MODES ("tcp dot doh").
set -euo pipefail

ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
NAMES=${NAMES:-4000}
MODES=${MODES:-tcp dot doh}
UPSTREAM=127.0.0.3:5320
UNBOUND_PORT=5321
UNBOUND_DOT=5322
UNBOUND_DOH=5323
HEARSAY_PORT=5324
HEARSAY_DOT=5325
HEARSAY_DOH=5326

cd "$(dirname "$0")/.."
source benches/common.sh
need unbound dnsperf taskset dig openssl
cargo build --release --quiet
hearsay=$PWD/target/release/hearsay

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$work/dns.key" -out "$work/dns.pem" -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null

bench_zone "$NAMES" >"$work/bench.test.zone"
bench_queries "$NAMES" >"$work/hits"

hearsay_auth_conf "$UPSTREAM" bench.test. bench.test.zone >"$work/upstream.toml"
cat >"$work/hearsay.toml" <<EOF
[server]
listen = ["127.0.0.1:$HEARSAY_PORT"]
tls_listen = ["127.0.0.1:$HEARSAY_DOT"]
https_listen = ["127.0.0.1:$HEARSAY_DOH"]
tls_certificate = "dns.pem"
tls_key = "dns.key"
threads = 1
[log]
level = "warn"
[cache]
max_size = "512 MiB"
prefetch = false
[resolver]
dnssec = false
upstreams = ["$UPSTREAM"]
[special_use]
nodefault = ["test."]
EOF
{
    unbound_conf "$UNBOUND_PORT"
    cat <<EOF
    interface: 127.0.0.1@$UNBOUND_DOT
    interface: 127.0.0.1@$UNBOUND_DOH
    tls-port: $UNBOUND_DOT
    https-port: $UNBOUND_DOH
    tls-service-pem: "$work/dns.pem"
    tls-service-key: "$work/dns.key"
    rrset-cache-size: 512m
    msg-cache-size: 256m
    edns-buffer-size: 1232
    # Room for dnsperf's connections, as hearsay's default caps allow.
    incoming-num-tcp: 256
forward-zone:
    name: "."
    forward-addr: ${UPSTREAM/:/@}
EOF
} >"$work/unbound.conf"

taskset -c 1 "$hearsay" serve --config "$work/upstream.toml" &
pids+=($!)
taskset -c 0 unbound -d -c "$work/unbound.conf" &
pids+=($!)
unbound_pid=$!
taskset -c 0 "$hearsay" serve --config "$work/hearsay.toml" &
pids+=($!)
hearsay_pid=$!

wait_ready "$UNBOUND_PORT" host1.bench.test 10.
wait_ready "$HEARSAY_PORT" host1.bench.test 10.
alive "$unbound_pid" "$hearsay_pid"

for port in "$UNBOUND_PORT" "$HEARSAY_PORT"; do
    taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/hits" -n 1 -c 4 -q 100 >/dev/null 2>&1
done

for mode in $MODES; do
    case $mode in
        tcp) peer_port=$UNBOUND_PORT port=$HEARSAY_PORT ;;
        dot) peer_port=$UNBOUND_DOT port=$HEARSAY_DOT ;;
        doh) peer_port=$UNBOUND_DOH port=$HEARSAY_DOH ;;
    esac
    # Both must answer in this mode, or the figures mean nothing.
    for p in "$peer_port" "$port"; do
        out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$p" -m "$mode" -d "$work/hits" -n 1 -c 1 -q 10 2>&1)
        completed=$(awk '/Queries completed:/ {print $3}' <<<"$out")
        if [ "${completed:-0}" = 0 ]; then
            echo "port $p answers nothing over $mode:" >&2
            echo "$out" >&2
            exit 1
        fi
    done
    echo "== $mode"
    compare unbound "$peer_port" "$unbound_pid" "$port" "$hearsay_pid" "$work/hits" -m "$mode"
    echo
done
alive "$unbound_pid" "$hearsay_pid"
