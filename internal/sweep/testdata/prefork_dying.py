"""A pre-fork server whose workers die: the parent listens, forks workers
that accept on the shared socket, and respawns each one that dies. Every
request makes its worker keep 8 MiB more, so under a memory cap the kernel
kills workers while the small parent lives on, as gunicorn's master does.

Usage: prefork_dying.py PORT WORKERS"""
import os
import signal
import socket
import sys

port, workers = int(sys.argv[1]), int(sys.argv[2])
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", port))
sock.listen(128)


def worker():
    kept = []
    while True:
        conn, _ = sock.accept()
        req = conn.recv(4096)
        if b"/healthz" in req.split(b"\r\n", 1)[0]:
            body = b"ok"
        else:
            kept.append(bytearray(os.urandom(1 << 20)) * 8)  # 8 MiB more, resident
            body = b"[" + b",".join(b'{"id":%d}' % i for i in range(1, 101)) + b"]"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        conn.close()


def spawn():
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        worker()
        os._exit(0)
    return pid


children = {spawn() for _ in range(workers)}


def stop(*_):
    for c in children:
        try:
            os.kill(c, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os._exit(0)


signal.signal(signal.SIGTERM, stop)
while True:
    pid, _ = os.wait()  # a worker died: another takes its place
    children.discard(pid)
    children.add(spawn())
