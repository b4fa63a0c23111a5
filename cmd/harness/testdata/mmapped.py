"""A server whose memory is mostly a mapped file, as a database's is (its
blocks memory-mapped): it maps the file it is given, reads every page once
(resident, but the page cache another process filled, so the cgroup it runs
in is never charged for it), and answers a small JSON array."""
import http.server
import mmap
import sys

with open(sys.argv[2], "rb") as f:
    MAP = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
TOUCHED = sum(MAP[i] for i in range(0, len(MAP), mmap.PAGESIZE))
BODY = ("[" + ",".join('{"id": %d}' % i for i in range(1, 1001)) + "]").encode()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok" if self.path == "/health" else BODY
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
