// The seed in Node/Express: one export endpoint, built two ways.
//   GET /export?mode=json    res.json(rows): every row, then the whole body, in memory
//   GET /export?mode=stream  '[' row batches ']' written as the client reads,
//                            waiting for 'drain' when the socket is full (backpressure)
// ?rows=N&width=W as the reference servers take them. GET /health answers ok;
// GET /debug/heap answers the process's memory in the shape of a heap top
// (V8's used heap, external and ArrayBuffer memory, from
// process.memoryUsage()): the harness no longer needs it, heap: auto
// takes the heap top from outside through the inspector;
// GET /debug/heap-snapshot-size the size of a V8 heap snapshot taken then.
// Usage: node export_app.js PORT
'use strict';
const express = require('express');
const { once } = require('node:events');
const v8 = require('node:v8');
const { row } = require('./rows'); // the row every export target shares (fixtures/rows.json)

const app = express();
const port = Number(process.argv[2]);


function params(req) {
  const rows = Math.min(Number(req.query.rows ?? 2000), 1e6);
  const width = Math.min(Number(req.query.width ?? 64), 65536);
  return { rows, width };
}

app.get('/health', (req, res) => res.send('ok'));

app.get('/export', async (req, res) => {
  const { rows, width } = params(req);
  if (req.query.mode !== 'stream') {
    const all = [];
    for (let id = 1; id <= rows; id++) all.push(row(id, width));
    res.json(all); // the `render json:` shape: built whole, then sent
    return;
  }
  res.type('application/json');
  res.write('[');
  const batch = 100;
  for (let id = 1; id <= rows; id += batch) {
    let chunk = '';
    for (let i = id; i < Math.min(id + batch, rows + 1); i++) {
      chunk += (i > 1 ? ',' : '') + JSON.stringify(row(i, width));
    }
    if (!res.write(chunk)) {
      await once(res, 'drain'); // the client is slow: wait, hold nothing more
    }
    if (res.destroyed) return;
  }
  res.end(']');
});

app.get('/debug/heap', (req, res) => {
  const m = process.memoryUsage();
  res.json([
    { func: 'v8 heap used (process.memoryUsage().heapUsed)', inuse_bytes: m.heapUsed },
    { func: 'external (Buffers outside the V8 heap)', inuse_bytes: m.external },
    { func: 'arrayBuffers', inuse_bytes: m.arrayBuffers },
  ]);
});

// The size of a V8 heap snapshot now (it walks the whole heap: on demand
// only, never during a flood's sampling).
app.get('/debug/heap-snapshot-size', async (req, res) => {
  let bytes = 0;
  for await (const chunk of v8.getHeapSnapshot()) bytes += chunk.length;
  res.json({ heap_snapshot_bytes: bytes, ...v8.getHeapStatistics() });
});

const server = app.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
