"""Rows and heap tops shared by the Python seed apps."""

import hashlib
import tracemalloc

NAMES = ["Ada Lovelace", 'Grace "Amazing" Hopper', "O'Brien, Pat", "Zoë Ünal", "<b>Bold</b> & Co", "Line\nBreak"]
PATTERN = "abcdefghijklmnopqrstuvwxyz0123456789" * 2000


def make_row(i, width):
    """Row i: an id, text fields that need escaping, 16 binary bytes as
    hex, and a width-character payload."""
    blob = hashlib.blake2b(str(i).encode(), digest_size=16).digest()
    off = (i * 7919) % (len(PATTERN) - width + 1)
    return {
        "id": i,
        "name": NAMES[i % len(NAMES)],
        "note": "row %d" % i,
        "blob": blob.hex(),
        "payload": PATTERN[off:off + width],
    }


def tracemalloc_top(n):
    """The n source lines holding the most traced memory, in the shape of
    the harness's heap_top: [{"func": "file.py:42", "inuse_bytes": N}]."""
    if not tracemalloc.is_tracing():
        return []
    stats = tracemalloc.take_snapshot().statistics("lineno")[:n]
    return [{"func": "%s:%d" % (s.traceback[0].filename.rsplit("/", 1)[-1], s.traceback[0].lineno),
             "inuse_bytes": s.size} for s in stats]
