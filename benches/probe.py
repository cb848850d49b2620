#!/usr/bin/env python3
"""Latency probe: asks NAMES of SERVER over UDP at RATE queries per second
for SECONDS and prints "sent answered p50_ms p99_ms max_ms". A query with
no answer within 2 s counts as unanswered and at 2 s in the percentiles,
so losses show in p99 instead of hiding from it.

    probe.py HOST PORT RATE SECONDS NAME...
"""
import random
import select
import socket
import struct
import sys
import time

TIMEOUT = 2.0


def query(qid, name):
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.strip(".").split(".")) + b"\0"
    # RD set, one question, type A, class IN.
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + struct.pack(">HH", 1, 1)


def main():
    host, port, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    names = sys.argv[5:]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.connect((host, port))
    sent, pending, latencies = 0, {}, []
    start = time.perf_counter()
    interval = 1.0 / rate
    next_send = start
    while True:
        now = time.perf_counter()
        if now - start < seconds and now >= next_send:
            qid = sent % 65536
            # A query still unanswered under a reused id has timed out.
            if qid in pending:
                latencies.append(TIMEOUT)
                del pending[qid]
            pending[qid] = now
            try:
                sock.send(query(qid, random.choice(names)))
            except BlockingIOError:
                pass
            sent += 1
            next_send += interval
        elif now - start >= seconds + TIMEOUT or (now - start >= seconds and not pending):
            break
        wait = max(0.0, min(next_send - now, 0.01))
        ready, _, _ = select.select([sock], [], [], wait)
        while ready:
            try:
                data = sock.recv(4096)
            except (BlockingIOError, ConnectionRefusedError):
                break
            if len(data) < 2:
                continue
            qid = struct.unpack(">H", data[:2])[0]
            asked = pending.pop(qid, None)
            if asked is not None:
                latencies.append(time.perf_counter() - asked)
        for qid, asked in list(pending.items()):
            if time.perf_counter() - asked > TIMEOUT:
                latencies.append(TIMEOUT)
                del pending[qid]
    answered = sum(1 for l in latencies if l < TIMEOUT)
    latencies.extend([TIMEOUT] * len(pending))
    latencies.sort()
    if not latencies:
        print(f"{sent} 0 nan nan nan")
        return

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    print(f"{sent} {answered} {pct(0.5):.3f} {pct(0.99):.3f} {latencies[-1] * 1000:.3f}")


if __name__ == "__main__":
    main()
