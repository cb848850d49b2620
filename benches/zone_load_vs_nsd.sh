#!/usr/bin/env bash
# Loading a zone of about 1,000,000 records, hearsay against NSD, in one
# run: wall time and peak memory of `hearsay check-zone` and
# `nsd-checkzone` on the same file, then the resident memory of each
# server serving it (NSD: its serving process; hearsay: the server after
# its zones are in). ROUNDS alternating runs of the checkers; medians.
#
# The zone: 714,286 hosts with an A record, every 4th with AAAA, every
# 10th with a TXT, and an MX name for every 20th: 1,000,000 records at
# 750,001 names.
#
# Needs: nsd (nsd-checkzone), dig, GNU time (/usr/bin/time; Debian: time).
# Knobs: ROUNDS (3), HOSTS (714286).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
HOSTS=${HOSTS:-714286}
NSD_PORT=${NSD_PORT:-5311}
HEARSAY_PORT=${HEARSAY_PORT:-5312}

cd "$(dirname "$0")/.."
source benches/common.sh
need nsd nsd-checkzone dig /usr/bin/time
cargo build --release --quiet
hearsay=$PWD/target/release/hearsay

awk -v n="$HOSTS" 'BEGIN {
    print "$ORIGIN big.test."; print "$TTL 3600"
    print "@ SOA ns1 host 1 7200 3600 1209600 300"; print " NS ns1"; print "ns1 A 192.0.2.1"
    for (i = 0; i < n; i++) {
        printf "h%d A 10.%d.%d.%d\n", i, int(i / 65536) % 256, int(i / 256) % 256, i % 256
        if (i % 4 == 0) printf "h%d AAAA 2001:db8::%x:%x\n", i, int(i / 65536), i % 65536
        if (i % 10 == 0) printf "h%d TXT \"v=spf1 -all host %d\"\n", i, i
        if (i % 20 == 0) printf "m%d MX 10 h%d\n", i, i
    }
}' >"$work/big.test.zone"

# timed CMD...: "seconds peak_kb" of one run.
timed() {
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>&1
    cat "$work/time"
}

echo "round  checker          seconds   peak_rss_kb"
nsd_s=() nsd_kb=() our_s=() our_kb=()
for round in $(seq 1 "$ROUNDS"); do
    read -r s kb < <(timed nsd-checkzone big.test "$work/big.test.zone")
    nsd_s+=("$s") nsd_kb+=("$kb")
    printf "%5d  %-15s %8s  %12s\n" "$round" nsd-checkzone "$s" "$kb"
    read -r s kb < <(timed "$hearsay" check-zone big.test "$work/big.test.zone")
    our_s+=("$s") our_kb+=("$kb")
    printf "%5d  %-15s %8s  %12s\n" "$round" "hearsay" "$s" "$kb"
done

nsd_auth_conf "$NSD_PORT" big.test big.test.zone >"$work/nsd.conf"
hearsay_auth_conf "127.0.0.1:$HEARSAY_PORT" big.test. big.test.zone >"$work/hearsay.toml"
nsd -d -c "$work/nsd.conf" &
pids+=($!)
nsd_pid=$!
"$hearsay" serve --config "$work/hearsay.toml" &
pids+=($!)
hearsay_pid=$!
wait_ready "$NSD_PORT" h5.big.test 10.
wait_ready "$HEARSAY_PORT" h5.big.test 10.
alive "$nsd_pid" "$hearsay_pid"
sleep 2
# NSD names its processes (comm): "nsd: xfrd", "nsd: main" (which loaded the
# zone) and "nsd: server 1", the one answering queries.
nsd_server="" nsd_main=""
for pid in $(family "$nsd_pid"); do
    case "$(cat "/proc/$pid/comm")" in
        *server*) nsd_server=$pid ;;
        *main*) nsd_main=$pid ;;
    esac
done
nsd_serving=$(rss_kb "$nsd_server")
nsd_main_kb=$(rss_kb "$nsd_main")
our_serving=$(rss_kb "$hearsay_pid")

echo
echo "median load: nsd-checkzone $(median "${nsd_s[@]}") s, hearsay $(median "${our_s[@]}") s"
echo "median peak while loading: nsd-checkzone $(median "${nsd_kb[@]}") KB, hearsay $(median "${our_kb[@]}") KB"
echo "resident while serving: NSD's server process $nsd_serving KB (its main process: $nsd_main_kb KB more), hearsay $our_serving KB"
awk -v a="$(median "${our_s[@]}")" -v b="$(median "${nsd_s[@]}")" -v c="$our_serving" -v d="$nsd_serving" \
    'BEGIN { printf "ratios hearsay/NSD: load time %.2f, serving memory %.2f (targets: at most 1.00)\n", a / b, c / d }'
