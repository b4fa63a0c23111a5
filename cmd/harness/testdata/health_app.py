"""A small service of the kind users bring: its health check is /health
(not the harness's default /healthz), /export answers a JSON array built
whole in memory. Standard library only. Usage: health_app.py PORT"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body = b"ok"
        elif self.path.startswith("/export"):
            rows = [{"id": i, "name": "row %d" % i, "payload": "x" * 200} for i in range(2000)]
            body = json.dumps(rows).encode()
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


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
