"""Parallel UDP flows with per-flow outage measurement, run inside the test's namespaces.

    bgp_flows.py echo ADDR PORT                           echoes every datagram back (for at most 10 minutes)
    bgp_flows.py send ADDR PORT FLOWS SECONDS INTERVAL OUT
        FLOWS sockets (distinct source ports, so distinct 5-tuples) each send one datagram every INTERVAL
        seconds for SECONDS seconds; OUT gets, per flow, its source port, datagrams sent and echoed, and
        its longest silence between echoes (with the wall-clock time that silence began).
"""

import json
import selectors
import socket
import sys
import time


def echo(addr: str, port: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    s.settimeout(1.0)
    end = time.monotonic() + 600
    while time.monotonic() < end:
        try:
            data, peer = s.recvfrom(2048)
        except socket.timeout:
            continue
        s.sendto(data, peer)


def send(addr: str, port: int, flows: int, seconds: float, interval: float, out: str) -> None:
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(flows):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((addr, port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        socks.append(s)
    start = time.time()
    stats = [{"port": s.getsockname()[1], "sent": 0, "echoed": 0, "last": start, "gap": 0.0, "gap_from": start}
             for s in socks]
    next_send = time.monotonic()
    end = next_send + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if now >= next_send:
            for i, s in enumerate(socks):
                try:
                    s.send(f"{i} {stats[i]['sent']}".encode())
                    stats[i]["sent"] += 1
                except OSError:
                    pass  # e.g. no route while a tunnel is down: the flow stays silent
            next_send += interval
        for key, _ in sel.select(timeout=max(0.0, min(next_send, end) - time.monotonic())):
            i = key.data
            while True:
                try:
                    key.fileobj.recv(2048)
                except OSError:
                    break
                t = time.time()
                st = stats[i]
                if t - st["last"] > st["gap"]:
                    st["gap"], st["gap_from"] = t - st["last"], st["last"]
                st["last"], st["echoed"] = t, st["echoed"] + 1
    t = time.time()
    for st in stats:  # a flow silent until the end has its last silence counted too
        if t - st["last"] > st["gap"]:
            st["gap"], st["gap_from"] = t - st["last"], st["last"]
    with open(out, "w") as f:
        json.dump({"flows": stats}, f)


if __name__ == "__main__":
    if sys.argv[1] == "echo":
        echo(sys.argv[2], int(sys.argv[3]))
    else:
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), sys.argv[7])
