"""TCP transfer endpoints for the interop tests: `recv PORT` prints "<bytes> <sha256>" of what it
received; `send SRC HOST PORT FILE` sends the file and closes. Each handles one connection and exits."""

import hashlib
import socket
import sys


def recv(port: int) -> None:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(1)
    srv.settimeout(120)
    conn, _ = srv.accept()
    conn.settimeout(60)
    h, n = hashlib.sha256(), 0
    while data := conn.recv(1 << 16):
        h.update(data)
        n += len(data)
    print(n, h.hexdigest(), flush=True)


def send(src: str, host: str, port: int, path: str) -> None:
    with socket.create_connection((host, port), timeout=30, source_address=(src, 0)) as s, open(path, "rb") as f:
        s.settimeout(60)
        s.sendfile(f)
        s.shutdown(socket.SHUT_WR)


if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv(int(sys.argv[2]))
    else:
        send(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
