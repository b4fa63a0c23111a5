// A large-response flood written for k6, with the server's memory as a
// k6 metric. Build k6 with the extension (make k6), start a target, run:
//
//   bin/harness serve --impl buffered --port 8080 &
//   bin/k6 run -e TARGET_PORT=8080 examples/k6/flood.js
//
// The threshold fails the run (k6 exits 99) when the server's kernel peak
// RSS crosses RSS_LIMIT bytes (512 MiB by default).
import http from 'k6/http';
import flood from 'k6/x/flood';

const port = __ENV.TARGET_PORT || '8080';
const base = `http://127.0.0.1:${port}`;

export const options = {
  // k6 keeps each body as a JS string unless told not to: ~780 MB at 16
  // VUs for 10 MB bodies. The server's memory is what we measure, not k6's.
  discardResponseBodies: true,
  vus: Number(__ENV.VUS || 16),
  duration: __ENV.DURATION || '10s',
  thresholds: {
    target_rss_peak_bytes: [`value<${__ENV.RSS_LIMIT || 536870912}`],
    http_req_failed: ['rate<0.01'],
  },
};

export default function () {
  // One sampler per test run, however many VUs call this.
  flood.watch({ port: Number(port), interval: '50ms', target: __ENV.TARGET_NAME || 'server' });
  http.get(`${base}/export?rows=${__ENV.ROWS || 4000}&width=2000`);
}

export function teardown() {
  if (__ENV.HEAP_PROFILE) {
    flood.heapProfile(`${base}/debug/pprof/heap`, __ENV.HEAP_PROFILE);
  }
}
