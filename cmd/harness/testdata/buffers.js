// A Node server nobody here wrote, with no profiling endpoint: each answer
// rendered whole into a Buffer (outside the V8 heap), the last 16 kept in
// a cache.
const http = require('http');
const cache = [];
function render(n) {
  const rows = [];
  for (let i = 0; i < n; i++) rows.push({ id: i, v: 'x'.repeat(100) });
  return Buffer.from(JSON.stringify(rows));
}
http.createServer((req, res) => {
  if (req.url === '/health') return res.end('ok');
  const b = render(20000);
  cache.push(b);
  if (cache.length > 16) cache.shift();
  res.setHeader('content-type', 'application/json');
  res.end(b);
}).listen(Number(process.argv[2]), '127.0.0.1');
