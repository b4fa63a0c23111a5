// A large-response flood written for k6, with the server's memory as a
// k6 metric. Build k6 with the extension (make k6), start a target, run:
//
//   bin/harness serve --impl buffered --port 8080 &
//   bin/k6 run -e TARGET_PORT=8080 examples/k6/flood.js
//
// or point it at any URL (TARGET_URL, e.g. from another machine: then the
// server's memory is not watched here, as it runs elsewhere):
//
//   bin/k6 run -e TARGET_URL='http://10.0.0.2:8080/export?rows=500' examples/k6/flood.js
//
// With the memory watch, the threshold fails the run (k6 exits 99) when the
// server's kernel peak RSS crosses RSS_LIMIT bytes (512 MiB by default).
// Under `harness run` with driver: k6 the harness passes TARGET_URL (the
// scenario's path), TARGET_PORT, TARGET_NAME, VUS and DURATION, and what
// request: says to send: TARGET_METHOD, TARGET_HEADERS (JSON, secrets
// expanded: in k6's environment, never its command line), and
// TARGET_BODY, TARGET_BODY_FILE or TARGET_BODY_SIZE (k6 holds a body whole
// in every VU, unlike the built-in client).
import http from 'k6/http';
import flood from 'k6/x/flood';

const port = __ENV.TARGET_PORT || (__ENV.TARGET_URL ? '' : '8080');
const url = __ENV.TARGET_URL || `http://127.0.0.1:${port}/export?rows=${__ENV.ROWS || 4000}&width=2000`;
const base = url.match(/^https?:\/\/[^/]+/)[0];
// The server's memory can be read only on the machine it runs on: where the
// target's port is given (WATCH=0 turns the watch off).
const watch = port !== '' && __ENV.WATCH !== '0';

const method = __ENV.TARGET_METHOD || 'GET';
const params = { headers: __ENV.TARGET_HEADERS ? JSON.parse(__ENV.TARGET_HEADERS) : {} };
let body = null;
if (__ENV.TARGET_BODY_FILE) {
  body = open(__ENV.TARGET_BODY_FILE, 'b');
} else if (__ENV.TARGET_BODY_SIZE) {
  body = 'x'.repeat(Number(__ENV.TARGET_BODY_SIZE));
} else if (__ENV.TARGET_BODY) {
  body = __ENV.TARGET_BODY;
}

const thresholds = { http_req_failed: ['rate<0.01'] };
if (watch) {
  thresholds.target_rss_peak_bytes = [`value<${__ENV.RSS_LIMIT || 536870912}`];
}

export const options = {
  // k6 keeps each body as a JS string unless told not to: ~780 MB at 16
  // VUs for 10 MB bodies. The server's memory is what we measure, not k6's.
  discardResponseBodies: true,
  vus: Number(__ENV.VUS || 16),
  duration: __ENV.DURATION || '10s',
  thresholds,
};

export default function () {
  if (watch) {
    // One sampler per test run, however many VUs call this.
    flood.watch({ port: Number(port), interval: '50ms', target: __ENV.TARGET_NAME || 'server' });
  }
  http.request(method, url, body, params);
}

export function teardown() {
  if (__ENV.HEAP_PROFILE && watch) {
    flood.heapProfile(`${base}/debug/pprof/heap`, __ENV.HEAP_PROFILE);
  }
}
