"""The export seed shaped like Datasette's CSV export, over a SQLite
fixture database (harness fixtures sqlite writes one): Python's stdlib
sqlite3 under uvicorn, a bare ASGI app.

  GET /rows.csv              every row fetched, the CSV built whole, then sent
  GET /rows.csv?_stream=on   keyset pages (WHERE id > ? ORDER BY id LIMIT n),
                             each written as it is read: memory stays one page
  ?_next=ID (Datasette's continuation) or ?since=ID (the harness's resume):
                             rows after ID only; ?_size=N caps the rows
GET /healthz answers "ok"; no heap endpoint (the harness's heap: auto
takes the heap top from outside). The database is $FIXTURE_DB.
"""

import csv
import io
import os
import sqlite3
from urllib.parse import parse_qs


DB = os.environ["FIXTURE_DB"]
PAGE = 100  # rows per keyset page: about 100 KiB of CSV at 1000-byte payloads
HEADER = ["id", "name", "note", "blob", "payload"]


def rows_after(con, after, limit):
    cur = con.execute("SELECT id, name, note, blob, payload FROM rows WHERE id > ? ORDER BY id LIMIT ?", (after, limit))
    return [(r[0], r[1], r[2], r[3].hex(), r[4]) for r in cur]


def csv_lines(rows, header=False):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    if header:
        w.writerow(HEADER)
    w.writerows(rows)
    return buf.getvalue().encode()


async def send_text(send, status, body, ctype=b"text/plain"):
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    q = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
    if path == "/healthz":
        return await send_text(send, 200, b"ok")
    if path != "/rows.csv":
        return await send_text(send, 404, b"not found")
    after = int(q.get("_next", q.get("since", "0")))
    size = int(q.get("_size", "1000000000"))
    con = sqlite3.connect("file:%s?mode=ro" % DB, uri=True)
    con.execute("PRAGMA cache_size = -512")  # 512 KiB of page cache per connection, not 2 MiB
    try:
        if q.get("_stream") != "on":
            body = csv_lines(rows_after(con, after, size), header=True)  # all of it, then send
            return await send_text(send, 200, body, b"text/csv; charset=utf-8")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/csv; charset=utf-8")]})
        await send({"type": "http.response.body", "body": csv_lines([], header=True), "more_body": True})
        sent = 0
        while sent < size:
            page = rows_after(con, after, min(PAGE, size - sent))
            if not page:
                break
            await send({"type": "http.response.body", "body": csv_lines(page), "more_body": True})
            after, sent = page[-1][0], sent + len(page)
        await send({"type": "http.response.body", "body": b""})
    finally:
        con.close()
