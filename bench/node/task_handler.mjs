// Task handler of bench/tasks.sh (part d, publish -> handler latency), optionally with a paced
// task poster in the same process, so that both ends read one clock.
//
//   node task_handler.mjs --expect N [--skip 0] [--port 0] [--timeout 60] [--settle-ms 300]
//        [--label L] [--out result.json]
//        [--post-url http://127.0.0.1:GW/api/v1/tasks/Q --rate 2000 --count N --size 1024
//         --connections 64]
//
// Handler: answers every POST 200 '{}' (keep-alive). A JSON body with a positive sent_at_us
// (epoch µs when the task was published: nilecare-amqp-bench publish --stamp, or the poster
// below) gives one publish -> handler latency sample (nowUs() - sent_at_us), unless its seq
// is below --skip (the warm-up: new connections, JIT); seq also tells duplicates
// (at-least-once: a task handled twice). It prints `READY port=P` on stdout once listening.
// Poster (--post-url): --count tasks POSTed at --rate per second as
// {"payload":{"seq":i,"sent_at_us":<now>,"patient_id":"PAT-bench-<i % 1000>","pad":"x..."}}
// (payload about --size bytes), over at most --connections keep-alive connections, with an
// HS256 JWT from $JWT_SECRET; counts the 202s and their latency (POST -> 202, that is the
// broker's confirm as seen by the client).
//
// Ends once --expect tasks (distinct seq) arrived, on SIGINT/SIGTERM or after --timeout
// seconds; then waits until nothing has arrived for --settle-ms (at most 5 s) and prints the
// result: JSON (to --out, else stdout) and a `RESULT key=value ...` line. Exit code 0; 1 when
// fewer than --expect arrived or a POST was not answered 202.
import http from "node:http";

import { mintToken, nowUs, parseOptions, processUsage, settle, writeResult } from "./bench_support.mjs";

const opts = parseOptions({
  expect: 0,
  skip: 0,
  port: 0,
  timeout: 60,
  "settle-ms": 300,
  label: "",
  out: "",
  "post-url": "",
  rate: 2000,
  count: 0,
  size: 1024,
  connections: 64,
}, "task_handler");
if (!(opts.expect >= 1)) {
  process.stderr.write("task_handler: --expect >= 1 is required\n");
  process.exit(2);
}
if (opts["post-url"] && !(opts.count >= 1 && opts.rate > 0)) {
  process.stderr.write("task_handler: --post-url needs --count >= 1 and --rate > 0\n");
  process.exit(2);
}

const cpuStart = process.cpuUsage();
const startedUs = nowUs();
const latencies = [];  // µs, publish -> handler
const seen = new Set();
let received = 0;
let duplicates = 0;
let unstamped = 0;
let firstUs = 0;
let lastUs = 0;
let done = null;
const finished = new Promise((resolve) => { done = resolve; });

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const at = nowUs();
    res.writeHead(200, { "content-type": "application/json", "content-length": "2" });
    res.end("{}");
    let body;
    try { body = JSON.parse(Buffer.concat(chunks).toString("utf8")); } catch { body = null; }
    ++received;
    if (!firstUs) firstUs = at;
    lastUs = at;
    if (!(body && body.sent_at_us > 0)) ++unstamped;
    else if (!(body.seq < opts.skip)) latencies.push(at - body.sent_at_us);
    const seq = body?.seq;
    if (seen.has(seq)) ++duplicates;
    else seen.add(seq);
    if (seen.size >= opts.expect) done();
  });
});
server.keepAliveTimeout = 65_000;
await new Promise((resolve) => server.listen(opts.port, "127.0.0.1", resolve));
process.stdout.write(`READY port=${server.address().port}\n`);

// ---- poster ------------------------------------------------------------------------------
const post = { sent: 0, accepted: 0, failed: 0, latencies: [], firstError: "" };
let postTimer = null;
if (opts["post-url"]) {
  const url = new URL(opts["post-url"]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections });
  const token = mintToken("svc-bench", "admin", " for --post-url");
  const pad = (seq, sentAt) => {
    const head = JSON.stringify({ patient_id: `PAT-bench-${seq % 1000}`, seq, sent_at_us: sentAt, pad: "" });
    return "x".repeat(Math.max(0, opts.size - head.length));
  };
  const sendOne = (seq) => {
    const sentAt = Math.round(nowUs());
    const body = JSON.stringify({
      payload: { seq, sent_at_us: sentAt, patient_id: `PAT-bench-${seq % 1000}`, pad: pad(seq, sentAt) },
    });
    const req = http.request({
      agent, host: url.hostname, port: url.port, path: url.pathname, method: "POST",
      headers: {
        "content-type": "application/json", "content-length": Buffer.byteLength(body),
        authorization: `Bearer ${token}`,
      },
    }, (res) => {
      res.resume();
      res.on("end", () => {
        if (res.statusCode === 202) {
          ++post.accepted;
          post.latencies.push(nowUs() - sentAt);
        } else {
          ++post.failed;
          post.firstError ||= `status ${res.statusCode}`;
        }
      });
    });
    req.on("error", (err) => {
      ++post.failed;
      post.firstError ||= err.message;
    });
    req.end(body);
  };
  const postStart = nowUs();
  postTimer = setInterval(() => {
    const due = Math.min(opts.count, Math.floor(((nowUs() - postStart) / 1e6) * opts.rate));
    while (post.sent < due) sendOne(post.sent++);
    if (post.sent >= opts.count) clearInterval(postTimer);
  }, 1);
}

const timer = setTimeout(() => done(), opts.timeout * 1000);
process.on("SIGINT", () => done());
process.on("SIGTERM", () => done());
await finished;
clearTimeout(timer);
if (postTimer) clearInterval(postTimer);
await settle(() => lastUs, opts["settle-ms"]);
server.closeAllConnections();
server.close();

const quantile = (values, q) => {
  if (!values.length) return null;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1] / 1000;
};
const ms = (v) => (v == null ? null : Number(v.toFixed(3)));
const usage = processUsage(cpuStart, startedUs);
const spanS = lastUs > firstUs ? (lastUs - firstUs) / 1e6 : 0;
const result = {
  label: opts.label,
  expect: opts.expect,
  skip: opts.skip,
  samples: latencies.length,
  received,
  distinct: seen.size,
  duplicates,
  unstamped,
  rate: spanS > 0 ? Math.round((received - 1) / spanS) : null,
  p50_ms: ms(quantile(latencies, 0.5)),
  p99_ms: ms(quantile(latencies, 0.99)),
  max_ms: latencies.length ? ms(latencies.reduce((a, b) => Math.max(a, b)) / 1000) : null,
  posted: opts["post-url"] ? post.sent : null,
  accepted: opts["post-url"] ? post.accepted : null,
  post_failed: opts["post-url"] ? post.failed : null,
  post_p50_ms: ms(quantile(post.latencies, 0.5)),
  post_p99_ms: ms(quantile(post.latencies, 0.99)),
  first_post_error: post.firstError || null,
  cpu_s: Number(usage.cpu_seconds.toFixed(2)),
};
writeResult(result, opts.out, {
  label: opts.label || "-", expect: opts.expect, samples: latencies.length, received, distinct: seen.size, duplicates, unstamped,
  rate: result.rate, p50_ms: result.p50_ms, p99_ms: result.p99_ms, max_ms: result.max_ms,
  posted: result.posted, accepted: result.accepted, post_failed: result.post_failed,
  post_p50_ms: result.post_p50_ms, post_p99_ms: result.post_p99_ms, cpu_s: result.cpu_s,
});
process.exit(seen.size >= opts.expect && post.failed === 0 ? 0 : 1);
