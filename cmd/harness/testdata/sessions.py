"""A server with sessions, as web apps have them: POST /login with the
right password sets a cookie (sid) and answers a token; GET /rows answers
only a request carrying both from the same login, and ends every session
after its third request with a 401 (log in again)."""
import http.server
import itertools
import json
import sys
import threading

LOCK = threading.Lock()
NEXT = itertools.count(1)
SESSIONS = {}  # sid -> requests served
BODY = json.dumps([{"id": i} for i in range(1, 501)]).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, code, body, headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        creds = json.loads(self.rfile.read(n) or b"{}")
        if self.path != "/login" or creds.get("password") != "s3cret":
            return self.answer(403, b"no")
        with LOCK:
            sid = str(next(NEXT))
            SESSIONS[sid] = 0
        self.answer(200, json.dumps({"auth": {"token": "t" + sid}}).encode(), [("Set-Cookie", "sid=%s; Path=/; HttpOnly" % sid)])

    def do_GET(self):
        if self.path == "/health":
            return self.answer(200, b"ok")
        cookies = dict(c.strip().split("=", 1) for c in self.headers.get("Cookie", "").split(";") if "=" in c)
        sid = cookies.get("sid", "")
        with LOCK:
            ok = sid in SESSIONS and self.headers.get("Authorization") == "Bearer t" + sid
            if ok:
                SESSIONS[sid] += 1
                if SESSIONS[sid] > 3:
                    del SESSIONS[sid]
                    ok = False
        if not ok:
            return self.answer(401, b"log in")
        self.answer(200, BODY, [("Content-Type", "application/json")])

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
