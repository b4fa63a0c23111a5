"""A small service of the kind users bring, in Python's standard library:
the harness must not care what language a server is written in. /export
answers a JSON array built whole in memory.

Usage: app.py PORT [HEALTH_PATH (/healthz)] [ROWS (500)] [PAYLOAD_BYTES (0)] [cache]

With "cache" it keeps every body it built, forever: the leak a response
cache without bounds is."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port = int(sys.argv[1])
health = sys.argv[2] if len(sys.argv) > 2 else "/healthz"
rows = int(sys.argv[3]) if len(sys.argv) > 3 else 500
payload = "x" * (int(sys.argv[4]) if len(sys.argv) > 4 else 0)
cache = [] if len(sys.argv) > 5 and sys.argv[5] == "cache" else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == health:
            body = b"ok"
        elif self.path.startswith("/export"):
            out = [{"id": i, "name": "row %d" % i} for i in range(1, rows + 1)]
            if payload:
                for r in out:
                    r["payload"] = payload
            body = json.dumps(out).encode()
            if cache is not None:
                cache.append(body)
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
