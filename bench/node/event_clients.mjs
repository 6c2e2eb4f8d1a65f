// Receiving side of bench/events.sh (consumer path): K socket.io-client v4 connections to the
// gateway (WebSocket transport), client k authenticated with an HS256 JWT whose sub is
// <patient-prefix><k> (k = 0..K-1, role patient), so the gateway puts it in the room
// user:<patient-prefix><k>, where the default event rules emit `appointment:updated` for every
// appointment.* event of that patient. Each receipt is counted once per event_id (a second one
// is a duplicate); a receipt whose data.patient_id is not the client's own is misrouted.
//
//   node event_clients.mjs --url http://127.0.0.1:PORT --clients 100 \
//        [--patient-prefix PAT-bench-] [--event appointment:updated] [--expect 0] \
//        [--timeout 120] [--settle-ms 300] [--out result.json]
//
// The JWT secret comes from $JWT_SECRET (at least 32 bytes; issuer nilecare-auth, audience
// nilecare unless $JWT_ISSUER / $JWT_AUDIENCE say otherwise). Once every client is connected
// it prints READY on stdout. It ends when --expect receipts (all clients together) have
// arrived, on SIGINT/SIGTERM, or after --timeout seconds; then waits until nothing has arrived
// for --settle-ms (at most 5 s more) and prints the result: JSON (to --out, else stdout) and a
// `RESULT key=value ...` line on stdout. first_us / last_us are the first and last receipt's
// wall time (epoch µs) for a rate over the receiving span. Exit code 0; 1 when a client could not
// connect, or --expect was not reached.
import {
  closeAll, connected, mintToken, nowUs, parseOptions, processUsage, settle, socketIoClient, writeResult,
} from "./bench_support.mjs";

const opts = parseOptions({
  url: "",
  clients: 100,
  "patient-prefix": "PAT-bench-",
  event: "appointment:updated",
  expect: 0,
  timeout: 120,
  "settle-ms": 300,
  "connect-timeout": 20,
  out: "",
  label: "",
}, "event_clients");
if (!opts.url || !(opts.clients >= 1)) {
  process.stderr.write("event_clients: --url and --clients >= 1 are required\n");
  process.exit(2);
}

class Tracker {
  constructor(index) {
    this.index = index;
    this.patient = `${opts["patient-prefix"]}${index}`;
    this.seen = new Set();
    this.received = 0;
    this.duplicates = 0;
    this.misrouted = 0;
    this.disconnects = 0;
  }
}

const trackers = Array.from({ length: opts.clients }, (_, i) => new Tracker(i));
const closers = [];
const errors = [];
let total = 0;
let firstUs = 0;
let lastUs = 0;
let stopping = false;
let done = null;
const cpuStart = process.cpuUsage();
const startedUs = nowUs();

async function start(tracker, io) {
  const socket = socketIoClient(io, opts.url, mintToken(tracker.patient, "patient"));
  closers.push(() => socket.close());
  socket.on(opts.event, (payload) => {
    const at = nowUs();
    if (firstUs === 0) firstUs = at;
    lastUs = at;
    tracker.received++;
    total++;
    const id = payload?.event_id;
    if (tracker.seen.has(id)) tracker.duplicates++;
    else tracker.seen.add(id);
    if (payload?.patient_id !== tracker.patient) tracker.misrouted++;
    if (opts.expect > 0 && total >= opts.expect && done) done(true);
  });
  socket.on("disconnect", (reason) => {
    tracker.disconnects++;
    if (!stopping) errors.push(`client ${tracker.index} disconnected: ${reason}`);
  });
  await connected(socket, "connect_error", `client ${tracker.index} connect`, opts["connect-timeout"]);
}

function report(ok) {
  let distinct = 0;
  let duplicates = 0;
  let misrouted = 0;
  let disconnects = 0;
  let minPer = Infinity;
  let maxPer = 0;
  for (const t of trackers) {
    distinct += t.seen.size;
    duplicates += t.duplicates;
    misrouted += t.misrouted;
    disconnects += t.disconnects;
    minPer = Math.min(minPer, t.received);
    maxPer = Math.max(maxPer, t.received);
  }
  const span = lastUs > firstUs ? (lastUs - firstUs) / 1e6 : 0;
  const result = {
    label: opts.label, ok, clients: opts.clients, expect: opts.expect, received: total, distinct,
    duplicates, misrouted, disconnects, per_client_min: minPer, per_client_max: maxPer,
    first_us: Math.round(firstUs), last_us: Math.round(lastUs), receive_seconds: span,
    rate: span > 0 ? total / span : 0, ...processUsage(cpuStart, startedUs),
    errors: errors.slice(0, 20),
  };
  writeResult(result, opts.out, {
    label: opts.label || "events", ok: ok ? 1 : 0, clients: opts.clients, expect: opts.expect,
    received: total, distinct, duplicates, misrouted, disconnects, per_client_min: minPer,
    per_client_max: maxPer, first_us: result.first_us, last_us: result.last_us,
    receive_s: span.toFixed(3), rate: result.rate.toFixed(0), cpu_s: result.cpu_seconds.toFixed(2),
    rss_mib: result.rss_mib,
  });
}

async function stop(ok) {
  if (stopping) return;
  stopping = true;
  await settle(() => lastUs, opts["settle-ms"]);
  const reached = opts.expect === 0 || total >= opts.expect;
  report(ok && reached && errors.length === 0);
  closeAll(closers);
  process.exit(ok && reached ? 0 : 1);
}

process.on("SIGINT", () => stop(true));
process.on("SIGTERM", () => stop(true));

try {
  const { io } = await import("socket.io-client");
  // A few at a time: the gateway's upgrade path, not a thundering herd, is what is measured.
  for (let i = 0; i < trackers.length; i += 20) {
    await Promise.all(trackers.slice(i, i + 20).map((t) => start(t, io)));
  }
} catch (error) {
  process.stderr.write(`event_clients: ${error.message}\n`);
  errors.push(error.message);
  report(false);
  process.exit(1);
}
done = (ok) => stop(ok);
process.stdout.write("READY\n");
if (opts.expect > 0 && total >= opts.expect) stop(true);
setTimeout(() => stop(true), opts.timeout * 1000);
