"""A server nobody here wrote, with no profiling endpoint: each answer is
built whole in memory (a list of rows, then json.dumps of it), as a
framework's JSON response is."""
import http.server
import json
import sys


def rows(n):
    return [{"id": i, "name": "row %d" % i, "v": "x" * 200} for i in range(1, n + 1)]


def answer(n):
    return json.dumps(rows(n)).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"ok" if self.path == "/health" else answer(20000)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
