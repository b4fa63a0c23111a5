"""A server nobody here wrote, as APIs answer: a JSON object holding the rows
(/query), and the same answer broken at byte 40 (/broken), gzipped where
the request accepts gzip, as most servers' compression middleware does.
Health: /ping answers 204 No Content."""
import gzip
import http.server
import json
import sys

ROWS = {"data": [{"id": i, "v": "x" * 50} for i in range(1, 2001)], "meta": {"rows": 2000}}
BODY = json.dumps(ROWS).encode()
BROKEN = BODY[:40] + b"\x01" + BODY[41:]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/ping":
            self.send_response(204)
            self.end_headers()
            return
        body = {"/query": BODY, "/broken": BROKEN}.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Vary", "Accept-Encoding")
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
