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
import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

const opts = {
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
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; ++i) {
  const arg = argv[i];
  if (arg === "--help" || arg === "-h") {
    process.stdout.write("see the header of bench/node/event_clients.mjs\n");
    process.exit(0);
  }
  const key = arg.replace(/^--/, "");
  if (!arg.startsWith("--") || !(key in opts) || i + 1 >= argv.length) {
    process.stderr.write(`event_clients: bad argument ${arg}\n`);
    process.exit(2);
  }
  const value = argv[++i];
  opts[key] = typeof opts[key] === "number" ? Number(value) : value;
}
if (!opts.url || !(opts.clients >= 1)) {
  process.stderr.write("event_clients: --url and --clients >= 1 are required\n");
  process.exit(2);
}

const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;

function mintToken(sub) {
  const secret = process.env.JWT_SECRET ?? "";
  if (secret.length < 32) throw new Error("JWT_SECRET (at least 32 bytes) is required");
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({
    sub, role: "patient", iss: process.env.JWT_ISSUER ?? "nilecare-auth",
    aud: process.env.JWT_AUDIENCE ?? "nilecare", iat: now, exp: now + 6 * 3600,
  })}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
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
const sockets = [];
const errors = [];
let total = 0;
let firstUs = 0;
let lastUs = 0;
let stopping = false;
let done = null;
const cpuStart = process.cpuUsage();
const startedUs = nowUs();

function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${opts["connect-timeout"]} s`)),
                         opts["connect-timeout"] * 1000);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function start(tracker, io) {
  const socket = io(opts.url, {
    transports: ["websocket"], reconnection: false, forceNew: true,
    auth: { token: mintToken(tracker.patient) },
  });
  sockets.push(socket);
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
  await withTimeout(new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  }), `client ${tracker.index} connect`);
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
  const cpu = process.cpuUsage(cpuStart);
  const result = {
    label: opts.label, ok, clients: opts.clients, expect: opts.expect, received: total, distinct,
    duplicates, misrouted, disconnects, per_client_min: minPer, per_client_max: maxPer,
    first_us: Math.round(firstUs), last_us: Math.round(lastUs), receive_seconds: span,
    rate: span > 0 ? total / span : 0, cpu_seconds: (cpu.user + cpu.system) / 1e6,
    wall_seconds: (nowUs() - startedUs) / 1e6, rss_mib: Math.round(process.memoryUsage().rss / 1048576),
    errors: errors.slice(0, 20),
  };
  const json = `${JSON.stringify(result, null, 2)}\n`;
  if (opts.out) writeFileSync(opts.out, json);
  else process.stdout.write(json);
  const fields = {
    label: opts.label || "events", ok: ok ? 1 : 0, clients: opts.clients, expect: opts.expect,
    received: total, distinct, duplicates, misrouted, disconnects, per_client_min: minPer,
    per_client_max: maxPer, first_us: result.first_us, last_us: result.last_us,
    receive_s: span.toFixed(3), rate: result.rate.toFixed(0), cpu_s: result.cpu_seconds.toFixed(2),
    rss_mib: result.rss_mib,
  };
  process.stdout.write(`RESULT ${Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(" ")}\n`);
}

async function stop(ok) {
  if (stopping) return;
  stopping = true;
  const deadline = nowUs() + 5e6;
  for (;;) {
    const idleUs = nowUs() - lastUs;
    if (idleUs >= opts["settle-ms"] * 1000 || nowUs() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const reached = opts.expect === 0 || total >= opts.expect;
  report(ok && reached && errors.length === 0);
  for (const socket of sockets) {
    try { socket.close(); } catch { /* closing anyway */ }
  }
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
