#!/usr/bin/env bash
# Soak (issue 13): MINUTES (default 30) of mixed load on a recursive
# hearsay, with faults injected upstream and a reload every minute.
#
# NSD serves a hierarchy on 127.0.0.40-42 (port 53, so this needs root):
# zipf.test. (10,000 names, TTL 30 s so they keep being resolved) and
# faulty.test., which is reached through a proxy (127.0.0.43) that drops
# 5% of queries, delays 10% by 400 ms, answers 2% with garbage, 2% with TC
# and 3% with SERVFAIL. dnsperf asks a Zipf(1) mix of both zones with 10%
# unique missing names over UDP (2,000 a second) and TCP (200 a second);
# SIGHUP reloads the configuration and a local zone every minute.
#
# The cache is bounded at 16 MiB; the unique missing names fill it within
# a few minutes, and entries are then evicted as fast as they come. Prints
# resident memory after warm-up (WARMUP minutes, default 5) and at the end,
# open descriptors idle before and after, log lines at WARN or above, and
# what dnsperf saw: every query answered or SERVFAIL, none lost, and the
# slowest latency (the resolver's deadline is 3 s).
#
# Needs: root, nsd, dnsperf, dig, python3.
set -euo pipefail
MINUTES=${1:-30}
WARMUP=${WARMUP:-5}
PORT=${PORT:-5331}
cd "$(dirname "$0")/.."
source benches/common.sh
need nsd dnsperf dig python3
if [ "$(id -u)" != 0 ]; then echo "needs root (port 53)" >&2; exit 2; fi
cargo build --release --quiet
hearsay=$PWD/target/release/hearsay

zone() { # FILE ORIGIN TTL, body on stdin after the SOA
    { echo "\$ORIGIN $2"; echo "\$TTL $3"; echo "@ SOA ns hostmaster 1 1800 900 604800 30"; cat; } >"$work/$1"
}
zone root.zone . 86400 <<ZONE
@ NS ns.root.
ns.root. A 127.0.0.40
test. NS ns.test.
ns.test. A 127.0.0.41
ZONE
zone test.zone test. 86400 <<ZONE
@ NS ns
ns A 127.0.0.41
zipf NS ns.zipf
ns.zipf A 127.0.0.42
faulty NS ns.faulty
ns.faulty A 127.0.0.43
ZONE
{ echo "@ NS ns"; echo "ns A 127.0.0.42"; for i in $(seq 1 10000); do echo "n$i A 10.0.$((i / 256)).$((i % 256))"; done; } |
    zone zipf.zone zipf.test. 30
{ echo "@ NS ns"; echo "ns A 127.0.0.43"; for i in $(seq 1 2000); do echo "n$i A 10.1.$((i / 256)).$((i % 256))"; done; } |
    zone faulty.zone faulty.test. 30
cat >"$work/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.40@53
  ip-address: 127.0.0.41@53
  ip-address: 127.0.0.42@53
  username: ""
  chroot: ""
  database: ""
  zonesdir: "$work"
  pidfile: "$work/nsd.pid"
  xfrdfile: "$work/xfrd.state"
  zonelistfile: "$work/zone.list"
  xfrdir: "$work"
  logfile: "$work/nsd.log"
  server-count: 1
  rrl-ratelimit: 0
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: "."
  zonefile: "root.zone"
zone:
  name: "test."
  zonefile: "test.zone"
zone:
  name: "zipf.test."
  zonefile: "zipf.zone"
zone:
  name: "faulty.test."
  zonefile: "faulty.zone"
CONF
nsd -d -c "$work/nsd.conf" </dev/null &
pids+=($!)

# The fault proxy: 127.0.0.43 in front of 127.0.0.42.
cat >"$work/proxy.py" <<'PY'
import random, socket, struct, threading, time
listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
listen.bind(("127.0.0.43", 53))
def answer(query, client):
    roll = random.random()
    if roll < 0.05:
        return                                  # dropped
    if roll < 0.15:
        time.sleep(0.4)                         # delayed
    if roll < 0.17:
        listen.sendto(bytes(random.getrandbits(8) for _ in range(40)), client)
        return                                  # garbage
    if roll < 0.19:                             # TC, empty
        flags = struct.unpack(">H", query[2:4])[0] | 0x8200
        listen.sendto(query[:2] + struct.pack(">H", flags) + query[4:], client)
        return
    if roll < 0.22:                             # SERVFAIL
        flags = (struct.unpack(">H", query[2:4])[0] | 0x8000) & ~0xf | 2
        listen.sendto(query[:2] + struct.pack(">H", flags) + query[4:], client)
        return
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream.settimeout(2)
    try:
        upstream.sendto(query, ("127.0.0.42", 53))
        listen.sendto(upstream.recv(65535), client)
    except OSError:
        pass
    finally:
        upstream.close()
while True:
    query, client = listen.recvfrom(65535)
    if len(query) >= 12:
        threading.Thread(target=answer, args=(query, client), daemon=True).start()
PY
python3 "$work/proxy.py" &
pids+=($!)
wait_authoritative 127.0.0.40 127.0.0.41 127.0.0.42
printf '. 3600000 NS ns.root.\nns.root. 3600000 A 127.0.0.40\n' >"$work/root.hints"
zone local.zone local.soak. 3600 <<ZONE
@ NS ns
ns A 127.0.0.1
www A 192.0.2.80
ZONE
cat >"$work/hearsay.toml" <<CONF
[server]
listen = ["127.0.0.1:$PORT"]
threads = 2
[log]
level = "warn"
[cache]
max_size = "16 MiB"
[resolver]
mode = "recursive"
root_hints = "root.hints"
dnssec = false
timeout = "3s"
[special_use]
# zipf.test. and faulty.test. are resolved, not special-use names.
nodefault = ["test."]
[[zone]]
origin = "local.soak."
file = "local.zone"
CONF
"$hearsay" serve --config "$work/hearsay.toml" >"$work/hearsay.log" 2>&1 &
hearsay_pid=$!
pids+=($hearsay_pid)
wait_ready "$PORT" www.local.soak 192.0.2.80
fds() { find "/proc/$hearsay_pid/fd" -mindepth 1 -maxdepth 1 | wc -l; }
fds_idle=$(fds)

# Zipf(1) over both zones (5:1), 10% unique missing names.
awk -v n=1000000 'BEGIN {
    srand(13); names = 10000
    for (i = 1; i <= names; i++) { h += 1 / i; cdf[i] = h }
    for (q = 1; q <= n; q++) {
        r = rand()
        if (r < 0.1) { printf "gone%d.zipf.test A\n", q; continue }
        x = rand() * h; lo = 1; hi = names
        while (lo < hi) { mid = int((lo + hi) / 2); if (cdf[mid] < x) lo = mid + 1; else hi = mid }
        if (r < 0.25) printf "n%d.faulty.test A\n", (lo - 1) % 2000 + 1
        else printf "n%d.zipf.test A\n", lo
    } }' >"$work/queries"

seconds=$((MINUTES * 60))
dnsperf -s 127.0.0.1 -p "$PORT" -d "$work/queries" -l "$seconds" -Q 2000 -c 8 -t 5 >"$work/udp.out" 2>&1 &
udp=$!
dnsperf -m tcp -s 127.0.0.1 -p "$PORT" -d "$work/queries" -l "$seconds" -Q 200 -c 4 -t 5 >"$work/tcp.out" 2>&1 &
tcp=$!
rss_warm=0
for minute in $(seq 1 "$MINUTES"); do
    sleep 60
    kill -HUP "$hearsay_pid"
    rss=$(rss_kb "$hearsay_pid")
    [ "$minute" = 1 ] && rss_first=$rss
    [ "$minute" = "$WARMUP" ] && rss_warm=$rss
    echo "minute $minute: resident $((rss / 1024)) MiB, descriptors $(fds)"
done
wait "$udp" "$tcp" || true
rss_end=$(rss_kb "$hearsay_pid")
# A soak shorter than the warm-up compares with its first minute.
[ "$rss_warm" = 0 ] && rss_warm=$rss_first
sleep 10
fds_after=$(fds)
alive "$hearsay_pid"

summary() { # FILE LABEL
    awk -v label="$2" '
        /Queries sent:/ { sent = $3 } /Queries completed:/ { done = $3 } /Queries lost:/ { lost = $3 }
        /Response codes:/ { codes = $0; sub(/.*Response codes: */, "", codes) }
        /Average Latency/ { max = $NF; sub(/\)/, "", max) }
        END { printf "%s: sent %s, answered %s, lost %s (%s); slowest %s s\n", label, sent, done, lost, codes, max }' "$1"
}
echo
summary "$work/udp.out" "UDP"
summary "$work/tcp.out" "TCP"
awk -v w="$rss_warm" -v e="$rss_end" 'BEGIN {
    printf "resident memory: %.1f MiB after warm-up, %.1f MiB at the end (%+.1f%%; target within 10%%)\n",
        w / 1024, e / 1024, (e - w) * 100 / w }'
echo "open descriptors: $fds_idle idle before the load, $fds_after ten seconds after it (target: back to idle)"
warnings=$(grep -cE " (WARN|ERROR) " "$work/hearsay.log" || true)
echo "log lines at WARN or above: $warnings"
grep -E " (WARN|ERROR) " "$work/hearsay.log" | sed -E 's/^[^ ]+ +//' | sort | uniq -c | sort -rn | head -5 || true
