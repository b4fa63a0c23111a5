// flood-harness heap: auto for Node. Loaded by the harness through
// NODE_OPTIONS (--require this file), never written into the app: each
// Buffer of 64 KiB or more that Buffer.from, alloc, allocUnsafe,
// allocUnsafeSlow or concat makes carries, in a property of its own that
// nothing enumerates, the stack that made it. A big answer's bytes live
// outside the V8 heap, where V8's allocation tracker leaves them without
// a stack; the heap snapshot the harness takes shows this property on the
// Buffer, and the harness names the bytes by it.
'use strict';

const BIG = 64 << 10;
const KEY = '__flood_site'; // read by the harness (heaphook/node.go)
const MAX = 1000; // a heap snapshot names a string by its first 1024 characters

// site is the caller's stack as lines of "function\tfile\tline", innermost
// first, as many as fit in MAX characters.
function site(skip) {
  const limit = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace;
  Error.stackTraceLimit = 24;
  Error.prepareStackTrace = (_, frames) => frames;
  const e = {};
  Error.captureStackTrace(e, skip);
  const frames = e.stack;
  Error.stackTraceLimit = limit;
  Error.prepareStackTrace = prepare;
  const lines = [];
  let n = 0;
  for (const f of frames || []) {
    const line = [f.getFunctionName() || '(anonymous)', f.getFileName() || '', f.getLineNumber() || 0].join('\t');
    if (n + line.length + 1 > MAX) break;
    lines.push(line);
    n += line.length + 1;
  }
  return lines.join('\n'); // a flat string: a snapshot names a concatenated one "(concatenated string)"
}

function wrap(name) {
  const made = Buffer[name];
  if (typeof made !== 'function') return;
  const tagged = function (...args) {
    const b = made.apply(this, args);
    if (b && b.byteLength >= BIG) {
      try {
        Object.defineProperty(b, KEY, { value: site(tagged), enumerable: false, configurable: true });
      } catch (_) {
        // a frozen or pooled Buffer: left as it is
      }
    }
    return b;
  };
  Object.defineProperty(tagged, 'name', { value: name });
  Buffer[name] = tagged;
}

if (process.env.FLOOD_HEAP_DIR) {
  for (const name of ['from', 'alloc', 'allocUnsafe', 'allocUnsafeSlow', 'concat']) wrap(name);
}
