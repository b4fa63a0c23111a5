"""Rows and heap tops shared by the Python seed apps."""

import json
import os

# The row every export target writes, in any language: fixtures/rows.json
# and the recipe in fixtures/README.md (targets/row.go is the reference).
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "rows.json"), encoding="utf-8") as f:
    SHAPE = json.load(f)
NAMES, NOTES = SHAPE["names"], SHAPE["notes"]
MASK = (1 << 64) - 1


def splitmix(x):
    """SplitMix64's finaliser on a 64-bit x."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def _pattern():
    alphabet, x, out = SHAPE["alphabet"], 0x9E3779B97F4A7C15, []
    for _ in range(SHAPE["pattern_length"]):
        x = splitmix(x)
        out.append(alphabet[x % len(alphabet)])
    return "".join(out)


PATTERN = _pattern()


def make_row(i, width):
    """Row i: an id, text fields that need escaping, 16 binary bytes as
    hex, and a width-character payload."""
    off = splitmix(i + 1) % (len(PATTERN) - width + 1)
    return {
        "id": i,
        "name": NAMES[i % len(NAMES)],
        "note": NOTES[(i * 5 + 3) % len(NOTES)],
        "blob": "%016x%016x" % (splitmix(i), splitmix(~i & MASK)),
        "payload": PATTERN[off:off + width],
    }
