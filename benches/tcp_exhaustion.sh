#!/usr/bin/env bash
# TCP exhaustion (issue 13): one address holds CONNECTIONS (default 3000)
# TCP connections to hearsay, half idle and half stalled one byte into a
# length prefix, and keeps reopening them as they are closed. Meanwhile a
# new client asks over TCP ten times (dig +tcp, 1 s deadline each) and a
# UDP probe measures latency. Prints the slowest TCP answer and UDP p99
# with and without the attack.
#
#   benches/tcp_exhaustion.sh            (HEARSAY=path/to/hearsay to pick a build)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
need dig python3
CONNECTIONS=${CONNECTIONS:-3000}
HEARSAY=${HEARSAY:-target/release/hearsay}
[ -x "$HEARSAY" ] || cargo build --release --quiet
port=5391
# Room for the attacker's sockets in this shell's children.
ulimit -n 20000 2>/dev/null || true

cat >"$work/z.zone" <<'ZONE'
$ORIGIN example.test.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 127.0.0.1
www A 192.0.2.1
ZONE
cat >"$work/h.toml" <<CONF
[server]
listen = ["127.0.0.1:$port"]
[[zone]]
origin = "example.test."
file = "z.zone"
CONF
"$HEARSAY" serve --config "$work/h.toml" >"$work/log" 2>&1 &
pids+=($!)
wait_ready $port www.example.test 192.0.2.1

cat >"$work/attack.py" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
held = []
def open_one(stall):
    s = socket.socket(); s.setblocking(False)
    try: s.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    except OSError: return
    held.append((s, stall))
for i in range(n): open_one(i % 2 == 0)
time.sleep(0.05)
for s, stall in held:
    try:
        if stall: s.send(b"\0")
    except OSError: pass
print("open", flush=True)
# Keep it up: replace what the server closed, n/5 at a time.
while True:
    time.sleep(0.2)
    alive = []
    for s, stall in held:
        try:
            if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                s.close(); continue
        except BlockingIOError: pass
        except OSError:
            s.close(); continue
        alive.append((s, stall))
    held[:] = alive
    for i in range(min(n // 5, n - len(held))): open_one(i % 2 == 0)
PY

before=$(python3 benches/probe.py 127.0.0.1 $port 500 5 www.example.test)
python3 "$work/attack.py" $port "$CONNECTIONS" >"$work/attack.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do grep -q open "$work/attack.log" && break; sleep 0.1; done
python3 benches/probe.py 127.0.0.1 $port 500 5 www.example.test >"$work/during" &
probe=$!
slowest=0 failed=0
for _ in $(seq 1 10); do
    t0=$(date +%s%N)
    if dig +tcp +tries=1 +time=1 +short @127.0.0.1 -p $port www.example.test A | grep -q 192.0.2.1; then
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        [ "$ms" -gt "$slowest" ] && slowest=$ms
    else
        failed=$((failed + 1))
    fi
    sleep 0.3
done
wait $probe
if [ -n "${SHOW_CPU:-}" ]; then top -b -n 1 | head -15; fi
during=$(cat "$work/during")
echo "attack: $CONNECTIONS connections from 127.0.0.1, half stalled mid-prefix, reopened as closed"
echo "dig +tcp: 10 tries, $failed unanswered, slowest ${slowest} ms (dig's own start-up included)"
echo "UDP probe (sent answered p50 p99 max, ms): before: $before"
echo "UDP probe (sent answered p50 p99 max, ms): during: $during"
