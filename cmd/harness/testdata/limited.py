"""A server that serves at most K requests at once and refuses the rest
with 503: its capacity is exactly K, whatever the memory cap. Each /export
takes 0.3 s, so every client of a level is in flight together.

Usage: limited.py PORT K"""
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, limit = int(sys.argv[1]), int(sys.argv[2])
lock = threading.Lock()
in_flight = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        global in_flight
        if self.path == "/healthz":
            self.answer(200, b"ok")
            return
        with lock:
            in_flight += 1
            over = in_flight > limit
        try:
            if over:
                self.answer(503, b"busy")
                return
            time.sleep(0.3)
            self.answer(200, b'[{"id": 1}]')
        finally:
            with lock:
                in_flight -= 1

    def answer(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
