# Shared by the peer benchmarks (sourced, not run): tool checks, process
# clean-up, readiness, CPU accounting, dnsperf runs and medians, as
# ../shared/benchmarking.md describes.

# need TOOL... : exits with a hint if a tool is missing.
need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install $*)" >&2; exit 2; }
    done
}

# Background processes to stop on exit, and the scratch directory.
pids=()
work=$(mktemp -d)
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# wait_ready PORT NAME PATTERN: until dig's answer for NAME matches.
wait_ready() {
    for _ in $(seq 1 100); do
        if dig +short +tries=1 +time=1 @127.0.0.1 -p "$1" "$2" A 2>/dev/null | grep -q "$3"; then return 0; fi
        sleep 0.2
    done
    echo "server on port $1 did not come up" >&2
    exit 1
}

# wait_authoritative ADDRESS...: until each answers a question for the
# root's SOA without recursion (NSD up, whatever it answers).
wait_authoritative() {
    local addr
    for addr in "$@"; do
        for _ in $(seq 1 100); do
            dig +short +tries=1 +time=1 +norec @"$addr" . SOA >/dev/null 2>&1 && break
            sleep 0.1
        done
    done
}

# alive PID...: fails if a server exited (a stray one may hold its port).
alive() {
    for pid in "$@"; do
        kill -0 "$pid" 2>/dev/null || { echo "a server exited at start (port taken?)" >&2; exit 1; }
    done
}

# A process and its descendants (NSD forks its server processes).
family() {
    local child
    echo "$1"
    for child in $(pgrep -P "$1" || true); do family "$child"; done
}

# CPU ticks (utime+stime) of a process and its descendants. Fields after
# the last ')' of /proc/PID/stat, as the name may hold spaces.
cpu_ticks() {
    local total=0 pid stat fields
    for pid in $(family "$1"); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        fields=(${stat##*)})
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# measure PORT PID QUERYFILE [dnsperf args...]: prints
# "us_per_query qps avg_latency_ms" for one dnsperf run of SECONDS_PER_RUN.
measure() {
    local port=$1 pid=$2 file=$3 before after out completed qps latency
    shift 3
    before=$(cpu_ticks "$pid")
    out=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$file" -l "$SECONDS_PER_RUN" -c 4 -q 200 "$@" 2>&1)
    after=$(cpu_ticks "$pid")
    completed=$(awk '/Queries completed:/ {print $3}' <<<"$out")
    qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
    latency=$(awk '/Average Latency/ {print $4}' <<<"$out")
    awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$completed" -v q="$qps" -v l="$latency" \
        'BEGIN { printf "%.3f %.0f %.3f\n", t / hz / n * 1e6, q, l * 1000 }'
}

# compare PEER PEER_PORT PEER_PID HEARSAY_PORT HEARSAY_PID QUERYFILE [args]:
# ROUNDS alternating runs, then the medians and the ratio hearsay/peer.
compare() {
    local peer=$1 peer_port=$2 peer_pid=$3 port=$4 pid=$5 file=$6 round us qps lat
    shift 6
    local peer_runs=() runs=()
    echo "round  server   cpu_us/query      qps   latency_ms"
    for round in $(seq 1 "$ROUNDS"); do
        read -r us qps lat < <(measure "$peer_port" "$peer_pid" "$file" "$@")
        peer_runs+=("$us")
        printf "%5d  %-7s  %12s  %7s  %11s\n" "$round" "$peer" "$us" "$qps" "$lat"
        read -r us qps lat < <(measure "$port" "$pid" "$file" "$@")
        runs+=("$us")
        printf "%5d  %-7s  %12s  %7s  %11s\n" "$round" hearsay "$us" "$qps" "$lat"
    done
    local peer_median median
    peer_median=$(median "${peer_runs[@]}")
    median=$(median "${runs[@]}")
    echo
    echo "median CPU per query: $peer ${peer_median} us, hearsay ${median} us"
    awk -v h="$median" -v p="$peer_median" -v peer="$peer" \
        'BEGIN { printf "ratio hearsay/%s: %.2f (target: at most 1.00)\n", peer, h / p }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# bench_zone NAMES: a zone bench.test. with NAMES hosts (A and AAAA) on
# stdout.
bench_zone() {
    echo '$ORIGIN bench.test.'
    echo '$TTL 86400'
    echo '@ SOA ns1 hostmaster 1 7200 3600 1209600 3600'
    echo '  NS ns1'
    echo '  NS ns2'
    echo '  MX 10 mail'
    echo 'ns1 A 192.0.2.1'
    echo 'ns2 A 192.0.2.2'
    echo 'mail A 192.0.2.3'
    local i
    for i in $(seq 1 "$1"); do
        echo "host$i A 10.$((i / 65536 % 256)).$((i / 256 % 256)).$((i % 256))"
        echo "host$i AAAA 2001:db8::$(printf %x:%x $((i >> 16)) $((i & 0xffff)))"
    done
}

# bench_queries NAMES: the query mix, mostly A, some AAAA, some names that
# do not exist.
bench_queries() {
    local i
    for i in $(seq 1 "$1"); do
        echo "host$i.bench.test A"
        if (( i % 4 == 0 )); then echo "host$i.bench.test AAAA"; fi
        if (( i % 10 == 0 )); then echo "missing$i.bench.test A"; fi
    done
    echo "bench.test MX"
}

# unbound_conf PORT [MODULES]: the server: clause both resolver benchmarks
# give Unbound (one thread, no prefetch, like hearsay's settings there;
# MODULES "iterator" unless given), on 127.0.0.1@PORT; the caller appends
# its own lines.
unbound_conf() {
    cat <<CONF
server:
    interface: 127.0.0.1@$1
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
    # As hearsay is set up in the same benchmark: validating or not, no
    # prefetch.
    module-config: "${2:-iterator}"
    prefetch: no
    # test. is one of Unbound's built-in empty zones (RFC 6761).
    local-zone: "test." nodefault
CONF
}

# nsd_auth_conf PORT ZONE FILE: an NSD configuration serving ZONE from FILE
# (in $work) on 127.0.0.1@PORT, one server process, RRL off.
nsd_auth_conf() {
    cat <<CONF
server:
    ip-address: 127.0.0.1@$1
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
    name: $2
    zonefile: $3
CONF
}

# hearsay_auth_conf LISTEN ORIGIN FILE: a hearsay configuration serving
# ORIGIN (with its trailing dot) from FILE on LISTEN, one thread, no
# recursion.
hearsay_auth_conf() {
    cat <<CONF
[server]
listen = ["$1"]
threads = 1
[log]
level = "warn"
[resolver]
mode = "off"
[[zone]]
origin = "$2"
file = "$3"
CONF
}
