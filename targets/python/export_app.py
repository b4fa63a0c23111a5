"""The export seed, in Python: a Flask app under gunicorn.

GET /export?rows=N&width=W answers a JSON array of N rows, built one of two
ways (EXPORT_MODE, or --mode when run directly):

  buffered  the seed's "before": every row materialised, json.dumps of the
            whole list, one response with a Content-Length. Memory grows
            with the body and with every concurrent request.
  streamed  a generator over simplejson's iterencode, yielding ~32 KiB
            chunks; no Content-Length, so the response is chunked. Binary
            fields are hex-encoded inline, so no byte sequence can break
            UTF-8 halfway through a chunk.

POST /query does the same for a JSON query body {"rows": N, "width": W}, the
shape of snuba's query API (seed 000); when QUERY_TOKEN is set it wants
"Authorization: Bearer $QUERY_TOKEN" and answers 401 without it.

GET /healthz answers "ok". It serves no heap endpoint: the harness's
heap: auto takes its heap top from outside (tracemalloc, injected).
"""

import json
import os
import sys

import simplejson
from flask import Flask, Response, request

from seedrows import make_row

MODE = os.environ.get("EXPORT_MODE", "buffered")
CHUNK = 32 * 1024
MAX_WIDTH = 64 * 1024

app = Flask(__name__)


def bad(msg):
    return Response(msg + "\n", status=400, mimetype="text/plain")


@app.get("/healthz")
def healthz():
    return "ok"


@app.get("/export")
def export():
    try:
        rows = int(request.args.get("rows", "1000"))
        width = int(request.args.get("width", "64"))
    except ValueError:
        return bad("rows and width must be integers")
    return answer(rows, width)


@app.post("/query")
def query():
    token = os.environ.get("QUERY_TOKEN")
    if token and request.headers.get("Authorization") != "Bearer " + token:
        return Response("a bearer token is required\n", status=401, mimetype="text/plain")
    q = request.get_json(silent=True)
    if not isinstance(q, dict):
        return bad('want a JSON body {"rows": N, "width": W}')
    try:
        rows, width = int(q.get("rows", 1000)), int(q.get("width", 64))
    except (TypeError, ValueError):
        return bad("rows and width must be integers")
    return answer(rows, width)


def answer(rows, width):
    if rows < 0 or not 0 <= width <= MAX_WIDTH:
        return bad("rows must be >= 0 and width in [0, %d]" % MAX_WIDTH)
    if MODE == "buffered":
        body = json.dumps([make_row(i, width) for i in range(1, rows + 1)])
        return Response(body, mimetype="application/json")

    def chunks():
        encoder = simplejson.JSONEncoder(iterable_as_array=True)  # rows come from a generator
        pending, size = [], 0
        for piece in encoder.iterencode(make_row(i, width) for i in range(1, rows + 1)):
            pending.append(piece)
            size += len(piece)
            if size >= CHUNK:
                yield "".join(pending)
                pending, size = [], 0
        if pending:
            yield "".join(pending)

    return Response(chunks(), mimetype="application/json")


if __name__ == "__main__":
    # python3 export_app.py --mode streamed PORT  (a development server)
    args = sys.argv[1:]
    if args[:1] == ["--mode"]:
        MODE, args = args[1], args[2:]
    app.run(host="127.0.0.1", port=int(args[0]), threaded=True)
