"""A pre-fork server in miniature, as gunicorn, uwsgi, Puma or PostgreSQL
are: the parent fills a large block, then forks workers that share it
copy-on-write and never touch it. Its real memory is about one block; the
sum of its processes' RSS counts the block once per process.

Usage: prefork.py PORT MIB WORKERS"""
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, mib, workers = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
block = bytearray(os.urandom(1 << 20)) * mib  # resident, not zero pages
children = []
for _ in range(workers):
    pid = os.fork()
    if pid == 0:
        signal.pause()  # a worker: shares the block, touches nothing
        os._exit(0)
    children.append(pid)


def stop(*_):
    for c in children:
        os.kill(c, signal.SIGKILL)
    os._exit(0)


signal.signal(signal.SIGTERM, stop)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok" if self.path == "/healthz" else b"[" + b",".join(b'{"id":%d}' % i for i in range(1, 101)) + b"]"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
