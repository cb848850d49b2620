#!/usr/bin/env bash
# hearsay's recursion against Unbound's, both iterating from the same root
# over a hierarchy of NSD servers, in one run, as ../shared/benchmarking.md
# describes. Three workloads, each cold (the resolvers restarted before
# every run):
#  (a) NAMES unique names under a wildcard two labels below a zone cut
#      (hN.wild.a.com. with "*.wild" in a.com.);
#  (b) NAMES unique names directly under an apex wildcard (hN.b.com.);
#  (c) MIX queries, a Zipf(1) draw over 10,000 names of c.com. (one in ten
#      a CNAME into c.net., another TLD) with 20% names asked once
#      (under "*.once.c.com.").
# For each: authoritative queries per resolved name (NOERROR answers;
# counted by every NSD itself) and resolver CPU time per resolved name,
# medians of ROUNDS alternating runs, and the ratios hearsay/Unbound.
# A fourth workload is warm:
#  (d) the 10,000 names of c.com. asked once to fill the cache, then for
#      HIT_SECONDS over and over: CPU per cache hit.
# A fifth, (f), not run unless named in WORKLOADS, is a flood: with the
# names of c.com. cached, unique missing names under three zones as fast
# as dnsperf sends them for FLOOD_SECONDS (20), while a probe asks cached
# names at 500 a second: the probe's p50 and p99 latency (an unanswered
# probe counts as 2 s), and the resolver's peak memory.
# With SIGNED=1 every zone is signed (dnssec-signzone, ECDSA P-256, NSEC),
# both resolvers validate from the root's DS (hearsay's default; Unbound
# as "validator iterator"), and every query sets DO, so answers carry
# their RRSIGs: cold validated resolution, and DO=1 cache hits.
#
# The hierarchy listens on port 53 (127.0.0.20-24), because Unbound only
# asks authoritative servers there; so this needs root. Resolvers are
# pinned to CPU 0 with one thread each, NSD and dnsperf to CPU 1.
#
# Needs: root, nsd, unbound, dnsperf, taskset, dig, awk.
# Knobs: ROUNDS (5), NAMES (200000 per run of (a) and (b)), MIX (200000
# queries per run of (c)), HIT_SECONDS (5), WORKLOADS ("a b c d"), SIGNED
# (0), BASELINE (the path of another hearsay binary to run in Unbound's
# place: a before/after check of a change).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
NAMES=${NAMES:-200000}
MIX=${MIX:-200000}
WORKLOADS=${WORKLOADS:-a b c d}
HIT_SECONDS=${HIT_SECONDS:-5}
FLOOD_SECONDS=${FLOOD_SECONDS:-20}
FLOOD_NAMES=${FLOOD_NAMES:-2000000}
SIGNED=${SIGNED:-0}
UNBOUND_PORT=${UNBOUND_PORT:-5311}
HEARSAY_PORT=${HEARSAY_PORT:-5312}

cd "$(dirname "$0")/.."
source benches/common.sh
need nsd nsd-control unbound dnsperf taskset dig awk
if [ "$SIGNED" = 1 ]; then need dnssec-keygen dnssec-signzone; fi
if [ "$(id -u)" != 0 ]; then echo "needs root (port 53)" >&2; exit 2; fi
cargo build --release --quiet
hearsay=$PWD/target/release/hearsay

zone() { # FILE ORIGIN, body on stdin after the SOA and NS
    {
        echo "\$ORIGIN $2"
        echo "\$TTL 86400"
        echo "@ SOA ns hostmaster 1 1800 900 604800 3600"
        cat
    } >"$work/$1"
}
zone root.zone . <<ZONE
@ NS a.root-servers.net.
a.root-servers.net. A 127.0.0.20
com. NS ns.com.
ns.com. A 127.0.0.21
net. NS ns.net.
ns.net. A 127.0.0.21
ZONE
zone com.zone com. <<ZONE
@ NS ns
ns A 127.0.0.21
a NS ns.a
ns.a A 127.0.0.22
b NS ns.b
ns.b A 127.0.0.22
c NS ns.c
ns.c A 127.0.0.23
ZONE
zone net.zone net. <<ZONE
@ NS ns
ns A 127.0.0.21
c NS ns.c
ns.c A 127.0.0.24
ZONE
zone a.com.zone a.com. <<ZONE
@ NS ns
ns A 127.0.0.22
*.wild A 192.0.2.1
ZONE
zone b.com.zone b.com. <<ZONE
@ NS ns
ns A 127.0.0.22
* A 192.0.2.2
ZONE
{
    echo "@ NS ns"
    echo "ns A 127.0.0.23"
    echo "*.once A 192.0.2.3"
    for i in $(seq 1 10000); do
        if (( i % 10 == 0 )); then
            echo "n$i CNAME n$i.c.net."
        else
            echo "n$i A 10.0.$((i / 256)).$((i % 256))"
        fi
    done
} | zone c.com.zone c.com.
{
    echo "@ NS ns"
    echo "ns A 127.0.0.24"
    for i in $(seq 10 10 10000); do echo "n$i A 10.1.$((i / 256)).$((i % 256))"; done
} | zone c.net.zone c.net.

# sign ORIGIN FILE: FILE signed in place (a KSK and a ZSK of its own),
# the DS for its parent appended to $work/ds-ORIGIN.
sign() {
    local dir=$work/keys-$1
    mkdir -p "$dir"
    (
        cd "$dir"
        dnssec-keygen -q -K . -a ECDSAP256SHA256 -f KSK "$1" >/dev/null
        dnssec-keygen -q -K . -a ECDSAP256SHA256 "$1" >/dev/null
        dnssec-signzone -q -S -K . -o "$1" -f "$work/$2.signed" "$work/$2" >/dev/null
        cat "dsset-${1%.}."
    ) >"$work/ds-$1"
    mv "$work/$2.signed" "$work/$2"
}
if [ "$SIGNED" = 1 ]; then
    sign a.com. a.com.zone
    sign b.com. b.com.zone
    sign c.com. c.com.zone
    sign c.net. c.net.zone
    cat "$work/ds-a.com." "$work/ds-b.com." "$work/ds-c.com." >>"$work/com.zone"
    cat "$work/ds-c.net." >>"$work/net.zone"
    sign com. com.zone
    sign net. net.zone
    cat "$work/ds-com." "$work/ds-net." >>"$work/root.zone"
    sign . root.zone
    cp "$work/ds-." "$work/root.anchor"
fi

# nsd_server NAME ADDRESS ORIGIN=FILE...
nsd_server() {
    local name=$1 addr=$2 dir=$work/nsd-$1
    shift 2
    mkdir -p "$dir"
    {
        cat <<CONF
server:
  ip-address: $addr@53
  username: ""
  chroot: ""
  database: ""
  zonesdir: "$work"
  pidfile: "$dir/nsd.pid"
  xfrdfile: "$dir/xfrd.state"
  zonelistfile: "$dir/zone.list"
  xfrdir: "$dir"
  logfile: "$dir/nsd.log"
  server-count: 1
  # NSD limits answers per client to 200 a second by default (RRL); a
  # resolver under load is one client.
  rrl-ratelimit: 0
  verbosity: 0
remote-control:
  control-enable: yes
  control-interface: $dir/control.sock
CONF
        local spec
        for spec in "$@"; do
            printf 'zone:\n  name: "%s"\n  zonefile: "%s"\n' "${spec%%=*}" "${spec#*=}"
        done
    } >"$dir/nsd.conf"
    taskset -c 1 nsd -d -c "$dir/nsd.conf" &
    pids+=($!)
    nsd_confs+=("$dir/nsd.conf")
}
nsd_confs=()
nsd_server root 127.0.0.20 .=root.zone
nsd_server tld 127.0.0.21 com.=com.zone net.=net.zone
nsd_server ab 127.0.0.22 a.com.=a.com.zone b.com.=b.com.zone
nsd_server c 127.0.0.23 c.com.=c.com.zone
nsd_server cnet 127.0.0.24 c.net.=c.net.zone
wait_authoritative 127.0.0.20 127.0.0.21 127.0.0.22 127.0.0.23 127.0.0.24
printf '. 3600000 NS a.root-servers.net.\na.root-servers.net. 3600000 A 127.0.0.20\n' >"$work/root.hints"

# Queries every NSD has answered so far.
authoritative_queries() {
    local conf total=0 n
    for conf in "${nsd_confs[@]}"; do
        n=$(nsd-control -c "$conf" stats_noreset | awk -F= '$1 == "num.queries" { print $2 }')
        total=$((total + n))
    done
    echo "$total"
}

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
modules=iterator
if [ "$SIGNED" = 1 ]; then
    printf 'dnssec = true\ntrust_anchor_file = "root.anchor"\n' >>"$work/hearsay.toml"
    modules="validator iterator"
else
    # The lab is unsigned, and Unbound here does not validate either.
    printf 'dnssec = false\n' >>"$work/hearsay.toml"
fi
{
    unbound_conf "$UNBOUND_PORT" "$modules"
    cat <<CONF
    root-hints: "$work/root.hints"
    do-ip6: no
    rrset-cache-size: 2g
    msg-cache-size: 2g
CONF
    if [ "$SIGNED" = 1 ]; then echo "    trust-anchor-file: \"$work/root.anchor\""; fi
} >"$work/unbound.conf"

sed "s/127.0.0.1:$HEARSAY_PORT/127.0.0.1:$UNBOUND_PORT/" "$work/hearsay.toml" >"$work/baseline.toml"

# start_resolver unbound|hearsay: starts it cold, pinned to CPU 0; sets
# resolver_pid. With BASELINE set, "unbound" is that hearsay binary.
start_resolver() {
    case $1 in
        unbound) if [ -n "${BASELINE:-}" ]; then
                taskset -c 0 "$BASELINE" serve --config "$work/baseline.toml" &
            else
                taskset -c 0 unbound -d -c "$work/unbound.conf" &
            fi ;;
        hearsay) taskset -c 0 "$hearsay" serve --config "$work/hearsay.toml" & ;;
    esac
    resolver_pid=$!
    local port=$UNBOUND_PORT
    [ "$1" = hearsay ] && port=$HEARSAY_PORT
    # Ready when it answers; the readiness question warms nothing the
    # workloads ask (it is the root's SOA).
    for _ in $(seq 1 100); do
        dig +short +tries=1 +time=1 @127.0.0.1 -p "$port" . SOA >/dev/null 2>&1 && break
        sleep 0.1
    done
    alive "$resolver_pid"
}

stop_resolver() {
    kill "$resolver_pid" 2>/dev/null || true
    wait "$resolver_pid" 2>/dev/null || true
}

# DO on every query when the lab is signed.
do_bit=()
if [ "$SIGNED" = 1 ]; then do_bit=(-D); fi

# run SERVER FILE [WARM]: a cold run of FILE against SERVER (with WARM,
# FILE is asked once first, unmeasured, then for HIT_SECONDS); prints
# "us_per_answer queries_per_answer answers qps".
run() {
    local server=$1 file=$2 port=$UNBOUND_PORT before after auth_before auth_after out answered qps
    local passes=(-n 1)
    [ "$server" = hearsay ] && port=$HEARSAY_PORT
    start_resolver "$server"
    if [ -n "${3:-}" ]; then
        taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$file" -n 1 -c 4 -q 200 -t 5 "${do_bit[@]}" >/dev/null 2>&1
        passes=(-l "$HIT_SECONDS")
    fi
    auth_before=$(authoritative_queries)
    before=$(cpu_ticks "$resolver_pid")
    out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$file" "${passes[@]}" -c 4 -q 200 -t 5 "${do_bit[@]}" 2>&1)
    after=$(cpu_ticks "$resolver_pid")
    auth_after=$(authoritative_queries)
    stop_resolver
    answered=$(awk '/Response codes:/ { for (i = 1; i <= NF; i++) if ($i == "NOERROR") print $(i + 1) }' <<<"$out")
    qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
    awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="${answered:-0}" -v a=$((auth_after - auth_before)) -v q="$qps" \
        'BEGIN { if (n == 0) n = 1; printf "%.3f %.3f %d %.0f\n", t / hz / n * 1e6, a / n, n, q }'
}

report() {
    local what=$1
    shift
    local -n cpu_u=$1 cpu_h=$2 auth_u=$3 auth_h=$4
    local mu mh qu qh
    mu=$(median "${cpu_u[@]}") mh=$(median "${cpu_h[@]}") qu=$(median "${auth_u[@]}") qh=$(median "${auth_h[@]}")
    echo "$what: CPU per resolved name unbound $mu us, hearsay $mh us; authoritative queries per resolved name unbound $qu, hearsay $qh"
    awk -v mu="$mu" -v mh="$mh" -v au="$qu" -v ah="$qh" -v what="$what" 'BEGIN {
        printf "%s ratios hearsay/unbound: CPU %.2f, authoritative queries %s (target: both at most 1.00)\n",
            what, mh / mu, (au > 0 ? sprintf("%.2f", ah / au) : "n/a (none sent)") }'
}

# The query file of a workload for round R and a server, so no run
# finds another's names in the authoritative servers' answers.
queries() {
    local workload=$1 tag=$2
    case $workload in
        a) seq 1 "$NAMES" | sed "s/.*/$tag&.wild.a.com A/" ;;
        b) seq 1 "$NAMES" | sed "s/.*/$tag&.b.com A/" ;;
        c) awk -v n="$MIX" -v tag="$tag" -v seed="$RANDOM" 'BEGIN {
               srand(seed); names = 10000
               for (i = 1; i <= names; i++) { h += 1 / i; cdf[i] = h }
               for (q = 1; q <= n; q++) {
                   if (rand() < 0.2) { printf "%s%d.once.c.com A\n", tag, q; continue }
                   x = rand() * h; lo = 1; hi = names
                   while (lo < hi) { mid = int((lo + hi) / 2); if (cdf[mid] < x) lo = mid + 1; else hi = mid }
                   printf "n%d.c.com A\n", lo
               } }' ;;
        d) seq 1 10000 | sed "s/.*/n&.c.com A/" ;;
    esac
}

# flood SERVER ROUND: the 10,000 names of c.com. cached, then for
# FLOOD_SECONDS a random-subdomain flood (unique missing names under
# a.com., c.com. and c.net., as fast as dnsperf goes) while a probe asks
# cached names at 500 a second; prints "p50_ms p99_ms probe_unanswered
# flood_qps peak_rss_mb rss_before_mb".
flood() {
    local server=$1 round=$2 port=$UNBOUND_PORT rss_before peak probe
    [ "$server" = hearsay ] && port=$HEARSAY_PORT
    start_resolver "$server"
    seq 1 10000 | sed "s/.*/n&.c.com A/" >"$work/warm"
    taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/warm" -n 1 -c 4 -q 200 -t 5 >/dev/null 2>&1
    rss_before=$(rss_kb "$resolver_pid")
    awk -v n="$FLOOD_NAMES" -v tag="f$round-$server" 'BEGIN {
        split("a.com c.com c.net", zones, " ")
        for (i = 1; i <= n; i++) printf "%s%d.%s A\n", tag, i, zones[i % 3 + 1] }' >"$work/flood"
    taskset -c 1 python3 benches/probe.py 127.0.0.1 "$port" 500 "$FLOOD_SECONDS" $(seq 1 50 10000 | sed 's/.*/n&.c.com/') >"$work/probe" &
    probe=$!
    out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/flood" -l "$FLOOD_SECONDS" -c 8 -q 2000 -t 2 2>&1)
    wait "$probe"
    peak=$(awk '/VmHWM/ {print $2}' "/proc/$resolver_pid/status")
    stop_resolver
    read -r sent answered p50 p99 max <"$work/probe"
    awk -v s="$sent" -v a="$answered" -v p50="$p50" -v p99="$p99" -v peak="$peak" -v before="$rss_before" \
        -v qps="$(awk '/Queries per second:/ {print $4}' <<<"$out")" \
        'BEGIN { printf "%s %s %d %.0f %.0f %.0f\n", p50, p99, s - a, qps, peak / 1024, before / 1024 }'
}

reports=()
if [[ " $WORKLOADS " == *" f "* ]]; then
    echo "workload (f): random-subdomain flood, cached names probed"
    echo "round  server   probe_p50_ms  probe_p99_ms  unanswered  flood_qps  peak_rss_mb  rss_warm_mb"
    pu=() ph=()
    for round in $(seq 1 "$ROUNDS"); do
        for server in unbound hearsay; do
            read -r p50 p99 lost qps peak before < <(flood "$server" "$round")
            printf "%5d  %-7s  %12s  %12s  %10s  %9s  %11s  %11s\n" "$round" "$server" "$p50" "$p99" "$lost" "$qps" "$peak" "$before"
            if [ "$server" = unbound ]; then pu+=("$p99"); else ph+=("$p99"); fi
        done
    done
    reports+=("(f) cached-name p99 under the flood: unbound $(median "${pu[@]}") ms, hearsay $(median "${ph[@]}") ms (target: hearsay under 10 ms and at most unbound's)")
    WORKLOADS=${WORKLOADS//f/}
    echo
fi
for workload in $WORKLOADS; do
    echo "workload ($workload)"
    echo "round  server   cpu_us/answer  auth/answer   answers      qps"
    cu=() ch=() au=() ah=()
    for round in $(seq 1 "$ROUNDS"); do
        queries "$workload" "r$round-" >"$work/queries"
        warm=""
        [ "$workload" = d ] && warm=1
        read -r us auth n qps < <(run unbound "$work/queries" $warm)
        cu+=("$us") au+=("$auth")
        printf "%5d  %-7s  %13s  %11s  %8s  %7s\n" "$round" unbound "$us" "$auth" "$n" "$qps"
        read -r us auth n qps < <(run hearsay "$work/queries" $warm)
        ch+=("$us") ah+=("$auth")
        printf "%5d  %-7s  %13s  %11s  %8s  %7s\n" "$round" hearsay "$us" "$auth" "$n" "$qps"
    done
    reports+=("$(report "($workload)" cu ch au ah)")
    echo
done
printf '%s\n' "${reports[@]}"
