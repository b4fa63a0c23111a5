# A non-Go target for the end-to-end test: the harness must not care what
# language a server is written in. Serves /healthz and a small JSON export.
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/healthz":
            body = b"ok"
        elif self.path.startswith("/export"):
            body = ("[" + ",".join('{"id":%d,"name":"row %d"}' % (i, i) for i in range(1, 501)) + "]").encode()
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


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
