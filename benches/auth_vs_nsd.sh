#!/usr/bin/env bash
# hearsay's authoritative answers against NSD's, serving the same zone, in
# one run: server CPU time per answered query (utime+stime from
# /proc/PID/stat around a dnsperf run), as ../shared/benchmarking.md
# describes. Servers are pinned to CPU 0 with one worker, dnsperf to CPU 1,
# and the two are measured in turn (A B A B ...); the medians and the
# ratio hearsay/NSD are printed.
#
# Needs: nsd, dnsperf, taskset (Debian: nsd dnsperf util-linux), and for
# SIGNED dnssec-keygen and dnssec-signzone (bind9-utils).
# Knobs: ROUNDS (5), SECONDS_PER_RUN (8), NAMES (4000), EDNS (0 or 1),
# SIGNED (no, nsec or nsec3: the zone is signed with ECDSA P-256 and every
# query sets DO, so answers carry RRSIGs and NXDOMAIN answers their
# proofs).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
NAMES=${NAMES:-4000}
EDNS=${EDNS:-0}
SIGNED=${SIGNED:-no}
NSD_PORT=${NSD_PORT:-5301}
HEARSAY_PORT=${HEARSAY_PORT:-5302}

cd "$(dirname "$0")/.."
source benches/common.sh
need nsd dnsperf taskset dig
cargo build --release --quiet
hearsay=$PWD/target/release/hearsay

bench_zone "$NAMES" >"$work/bench.test.zone"
bench_queries "$NAMES" >"$work/queries"
if [[ "$SIGNED" != no ]]; then
    need dnssec-keygen dnssec-signzone
    nsec3=()
    if [[ "$SIGNED" == nsec3 ]]; then nsec3=(-3 - -H 0); fi
    (
        cd "$work"
        dnssec-keygen -q -K . -a ECDSAP256SHA256 -f KSK bench.test >/dev/null
        dnssec-keygen -q -K . -a ECDSAP256SHA256 bench.test >/dev/null
        dnssec-signzone -q -S -K . "${nsec3[@]}" -o bench.test -f signed.zone bench.test.zone >/dev/null
        mv signed.zone bench.test.zone
    )
fi

nsd_auth_conf "$NSD_PORT" bench.test bench.test.zone >"$work/nsd.conf"
hearsay_auth_conf "127.0.0.1:$HEARSAY_PORT" bench.test. bench.test.zone >"$work/hearsay.toml"

taskset -c 0 nsd -d -c "$work/nsd.conf" &
pids+=($!)
nsd_pid=$!
taskset -c 0 "$hearsay" serve --config "$work/hearsay.toml" &
pids+=($!)
hearsay_pid=$!
wait_ready "$NSD_PORT" host1.bench.test 10.
wait_ready "$HEARSAY_PORT" host1.bench.test 10.
alive "$nsd_pid" "$hearsay_pid"

edns=()
if [[ "$EDNS" == 1 ]]; then edns=(-e); fi
if [[ "$SIGNED" != no ]]; then edns=(-D); fi
# One short pass each, so both have faulted in their data.
SECONDS_PER_RUN=1 measure "$NSD_PORT" "$nsd_pid" "$work/queries" "${edns[@]}" >/dev/null
SECONDS_PER_RUN=1 measure "$HEARSAY_PORT" "$hearsay_pid" "$work/queries" "${edns[@]}" >/dev/null
compare nsd "$NSD_PORT" "$nsd_pid" "$HEARSAY_PORT" "$hearsay_pid" "$work/queries" "${edns[@]}"
