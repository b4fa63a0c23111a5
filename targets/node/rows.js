// The row every export target writes, in any language: fixtures/rows.json
// and the recipe in fixtures/README.md (targets/row.go is the reference).
'use strict';
const path = require('node:path');
const shape = require(path.join(__dirname, '..', '..', 'fixtures', 'rows.json'));

const MASK = (1n << 64n) - 1n;

// SplitMix64's finaliser on a 64-bit x (a BigInt).
function splitmix(x) {
  x = (x + 0x9e3779b97f4a7c15n) & MASK;
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return x ^ (x >> 31n);
}

const pattern = (() => {
  const alphabet = shape.alphabet;
  const n = BigInt(alphabet.length);
  const out = new Array(shape.pattern_length);
  let x = 0x9e3779b97f4a7c15n;
  for (let i = 0; i < out.length; i++) {
    x = splitmix(x);
    out[i] = alphabet[Number(x % n)];
  }
  return out.join('');
})();

const hex16 = (x) => x.toString(16).padStart(16, '0');

// Row id: an id, text fields that need escaping, 16 binary bytes as hex,
// and a width-character payload.
function row(id, width) {
  const u = BigInt(id);
  const off = Number(splitmix(u + 1n) % BigInt(pattern.length - width + 1));
  return {
    id,
    name: shape.names[id % shape.names.length],
    note: shape.notes[(id * 5 + 3) % shape.notes.length],
    blob: hex16(splitmix(u)) + hex16(splitmix(~u & MASK)),
    payload: pattern.slice(off, off + width),
  };
}

module.exports = { row };
