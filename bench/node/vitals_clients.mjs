// Receiving side of bench/vitals.sh: N clients that count every vitals reading they get and
// measure how long it took from the device's publish to them.
//
//   --mode socketio (default): N socket.io-client v4 connections to the gateway (WebSocket
//     transport), each with an HS256 JWT (role nurse) and `subscribe:patient` to every patient
//     <patient-prefix>1..<patient-prefix>P; each `vitals:update` is one receipt.
//   --mode mqtt: N `mqtt` v5 clients subscribed (QoS 1, clean session) to <topic> on the broker
//     directly: the baseline, the broker's own publish -> subscriber path.
//
// A receipt is keyed by (device_id, seq) (socketio: from the payload; mqtt: the device id from
// the topic, seq from the payload), kept in a bitset per device and client indexed by seq, so
// memory stays bounded (bits per seq) and a second receipt of a key is a duplicate. Latency =
// receive wall time (performance.timeOrigin + performance.now(), µs resolution) minus the
// payload's `timestamp` (ISO 8601 with µs, parsed here: Date.parse drops the µs). The devices
// run on this machine, so both ends read the same clock: it is publish -> delivery.
//
//   node vitals_clients.mjs --mode socketio --url http://127.0.0.1:PORT --clients 10 \
//        --patients 20 [--patient-prefix P-] [--duration 0] [--out result.json]
//   node vitals_clients.mjs --mode mqtt --url tcp://127.0.0.1:1883 --clients 1 \
//        [--topic devices/+/vitals] [--out result.json]
//
// The JWT secret comes from $JWT_SECRET (at least 32 bytes; issuer nilecare-auth, audience
// nilecare unless $JWT_ISSUER / $JWT_AUDIENCE say otherwise). Once every client is connected
// and subscribed, it prints READY on stdout. It runs until SIGINT/SIGTERM, a line "stop" on
// stdin (with --stdin), or --duration seconds; then waits until nothing has arrived for
// --settle-ms (at most 5 s more), and prints the result: JSON (to --out, else stdout) and a
// `RESULT key=value ...` line on stdout. With --expect-json FILE (nilecare-devsim's
// --summary-json, read at the end) it also counts, per client, the readings devsim sent that
// the client never got (`lost`: `sent` less the receipts with seq_start <= seq <
// seq_start + sent_per_device_max) and the receipts outside that range (`unexpected`). Exit code 0; 1 when a client could not connect or
// subscribe (the result is printed anyway when the run had started).
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import {
  closeAll, connected, mintToken, nowUs, parseOptions, processUsage, settle, socketIoClient, withTimeout,
  writeResult,
} from "./bench_support.mjs";

// ---- options ----------------------------------------------------------------------------------

const opts = parseOptions({
  mode: "socketio",
  url: "",
  clients: 10,
  patients: 20,
  "patient-prefix": "P-",
  topic: "devices/+/vitals",
  duration: 0,
  "settle-ms": 300,
  "connect-timeout": 20,
  out: "",
  label: "",
  "expect-json": "",
  stdin: false,  // a flag: --stdin
}, "vitals_clients");
if (!opts.url || !(opts.mode === "socketio" || opts.mode === "mqtt") || !(opts.clients >= 1)) {
  process.stderr.write("vitals_clients: --url, --mode socketio|mqtt and --clients >= 1 are required\n");
  process.exit(2);
}

// ---- time -----------------------------------------------------------------------------------------

// ISO 8601 -> epoch µs. The fast path is devsim's "YYYY-MM-DDTHH:MM:SS.ffffffZ"; the seconds
// part is parsed once per distinct second (readings of one second share it).
let cachedPrefix = "";
let cachedPrefixUs = 0;
const isoRe = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d:?\d\d)$/;
function parseIsoUs(text) {
  if (typeof text === "number") return text * 1000;  // epoch milliseconds
  if (typeof text !== "string") return NaN;
  const m = isoRe.exec(text);
  if (!m) return NaN;
  let base;
  if (m[3] === "Z" && m[1] === cachedPrefix) {
    base = cachedPrefixUs;
  } else {
    base = Date.parse(`${m[1]}${m[3] === "Z" ? "Z" : m[3]}`) * 1000;
    if (m[3] === "Z") { cachedPrefix = m[1]; cachedPrefixUs = base; }
  }
  const frac = m[2] ? Number(`0.${m[2]}`) * 1e6 : 0;
  return base + frac;
}

// ---- latency histogram: µs, exact below 1,024 µs, then 1,024 sub-buckets per power of two -----

class Histogram {
  constructor() {
    this.counts = new Float64Array(1024 + 22 * 1024);
    this.count = 0;
    this.max = 0;
    this.negative = 0;
  }
  static index(us) {
    if (us < 1024) return us;
    const e = 31 - Math.clz32(us);  // 10..30
    const shift = e - 10;
    return 1024 + shift * 1024 + ((us >>> shift) - 1024);
  }
  static value(index) {  // the middle of the bucket
    if (index < 1024) return index;
    const shift = Math.floor((index - 1024) / 1024);
    const sub = (index - 1024) % 1024;
    return ((1024 + sub) * 2 ** shift) + (2 ** shift - 1) / 2;
  }
  add(us) {
    if (!(us >= 0)) { this.negative++; us = 0; }
    us = Math.min(Math.round(us), 2 ** 31 - 1);
    this.counts[Histogram.index(us)]++;
    this.count++;
    if (us > this.max) this.max = us;
  }
  merge(other) {
    for (let i = 0; i < this.counts.length; ++i) this.counts[i] += other.counts[i];
    this.count += other.count;
    this.max = Math.max(this.max, other.max);
    this.negative += other.negative;
  }
  quantile(q) {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; ++i) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(Histogram.value(i), this.max);
    }
    return this.max;
  }
}

// ---- one client's receipts ------------------------------------------------------------------------

class Tracker {
  constructor(index) {
    this.index = index;
    this.devices = new Map();  // device id -> Uint8Array bitset indexed by seq
    this.received = 0;
    this.distinct = 0;
    this.duplicates = 0;
    this.badPayload = 0;
    this.maxSeq = 0;
    this.latency = new Histogram();
    this.disconnects = 0;
    this.firstUs = 0;
    this.lastUs = 0;
  }
  receipt(deviceId, seq, timestamp, atUs) {
    this.received++;
    if (this.firstUs === 0) this.firstUs = atUs;
    this.lastUs = atUs;
    lastReceiptUs = atUs;
    if (typeof deviceId !== "string" || !Number.isInteger(seq) || seq < 0) {
      this.badPayload++;
      return;
    }
    let bits = this.devices.get(deviceId);
    const byte = seq >>> 3;
    if (!bits || byte >= bits.length) {
      let size = bits ? bits.length : 1024;
      while (size <= byte) size *= 2;
      const grown = new Uint8Array(size);
      if (bits) grown.set(bits);
      bits = grown;
      this.devices.set(deviceId, bits);
    }
    const mask = 1 << (seq & 7);
    if (bits[byte] & mask) {
      this.duplicates++;
      return;  // a duplicate's latency is not a delivery's
    }
    bits[byte] |= mask;
    this.distinct++;
    if (seq > this.maxSeq) this.maxSeq = seq;
    const published = parseIsoUs(timestamp);
    if (Number.isFinite(published)) this.latency.add(atUs - published);
    else this.badPayload++;
  }
}

let lastReceiptUs = 0;
const trackers = Array.from({ length: opts.clients }, (_, i) => new Tracker(i));
const closers = [];
const errors = [];

// ---- socket.io clients ----------------------------------------------------------------------------

async function startSocketIo(tracker) {
  const { io } = await import("socket.io-client");
  const socket = socketIoClient(io, opts.url,
                                mintToken(`USR-bench-${tracker.index + 1}`, "nurse", " in socketio mode"));
  closers.push(() => socket.close());
  socket.on("vitals:update", (reading) => {
    const at = nowUs();
    tracker.receipt(reading?.device_id, reading?.seq, reading?.timestamp, at);
  });
  socket.on("disconnect", (reason) => {
    tracker.disconnects++;
    if (!stopping) errors.push(`client ${tracker.index + 1} disconnected: ${reason}`);
  });
  await connected(socket, "connect_error", `client ${tracker.index + 1} connect`, opts["connect-timeout"]);
  const acks = [];
  for (let p = 1; p <= opts.patients; ++p) {
    const patient = `${opts["patient-prefix"]}${p}`;
    acks.push(withTimeout(new Promise((resolve, reject) => {
      socket.emit("subscribe:patient", patient, (ack) => {
        if (ack?.success) resolve();
        else reject(new Error(`subscribe:patient ${patient}: ${JSON.stringify(ack)}`));
      });
    }), `client ${tracker.index + 1} subscribe:patient ${patient}`, opts["connect-timeout"]));
  }
  await Promise.all(acks);
}

// ---- mqtt clients ---------------------------------------------------------------------------------

async function startMqtt(tracker) {
  const mqtt = await import("mqtt");
  const connect = mqtt.connect ?? mqtt.default.connect;
  const client = connect(opts.url, {
    clientId: `nc-bench-direct-${randomBytes(4).toString("hex")}-${tracker.index + 1}`,
    clean: true, reconnectPeriod: 0, connectTimeout: opts["connect-timeout"] * 1000,
  });
  closers.push(() => client.end(true));
  client.on("message", (topic, payload) => {
    const at = nowUs();
    const levels = topic.split("/");
    let reading;
    try {
      reading = JSON.parse(payload.toString());
    } catch {
      reading = undefined;
    }
    tracker.receipt(levels[levels.length - 2], reading?.seq, reading?.timestamp, at);
  });
  client.on("close", () => {
    if (!stopping) {
      tracker.disconnects++;
      errors.push(`client ${tracker.index + 1} closed`);
    }
  });
  await connected(client, "error", `client ${tracker.index + 1} connect`, opts["connect-timeout"]);
  await withTimeout(client.subscribeAsync(opts.topic, { qos: 1 }), `client ${tracker.index + 1} subscribe`,
                    opts["connect-timeout"]);
}

// ---- run ------------------------------------------------------------------------------------------

let stopping = false;
const startedUs = nowUs();
const cpuStart = process.cpuUsage();

// Seqs of `bits` set within [from, to].
function countRange(bits, from, to) {
  let n = 0;
  for (let seq = from; seq <= to; ++seq) {
    const byte = seq >>> 3;
    if (byte < bits.length && (bits[byte] & (1 << (seq & 7)))) n++;
  }
  return n;
}

// { lost, unexpected } per client against devsim's summary, or null when it cannot tell.
function againstDevsim() {
  const file = opts["expect-json"];
  if (!file || !existsSync(file)) return null;
  let sim;
  try {
    sim = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
  if (!Number.isInteger(sim.sent) || !Number.isInteger(sim.sent_per_device_max)) return null;
  // Each device sent seq_start, seq_start + 1, ... (sent_per_device_min or _max of them): a
  // receipt within [seq_start, seq_start + max - 1] is one devsim sent.
  const from = sim.seq_start ?? 1;
  const to = from + sim.sent_per_device_max - 1;
  return trackers.map((t) => {
    let inRange = 0;
    for (const bits of t.devices.values()) inRange += countRange(bits, from, to);
    return { lost: sim.sent - inRange, unexpected: t.distinct - inRange };
  });
}

function summary(ok) {
  const all = new Histogram();
  const perClient = [];
  let received = 0;
  let distinct = 0;
  let duplicates = 0;
  let bad = 0;
  let disconnects = 0;
  let maxSeq = 0;
  let firstUs = Infinity;
  let lastUs = 0;
  const devices = new Set();
  for (const t of trackers) {
    all.merge(t.latency);
    received += t.received;
    distinct += t.distinct;
    duplicates += t.duplicates;
    bad += t.badPayload;
    disconnects += t.disconnects;
    maxSeq = Math.max(maxSeq, t.maxSeq);
    if (t.firstUs) firstUs = Math.min(firstUs, t.firstUs);
    lastUs = Math.max(lastUs, t.lastUs);
    for (const d of t.devices.keys()) devices.add(d);
    perClient.push({ received: t.received, distinct: t.distinct, duplicates: t.duplicates,
                     devices: t.devices.size, disconnects: t.disconnects });
  }
  const expected = againstDevsim();
  if (expected) {
    perClient.forEach((c, i) => Object.assign(c, expected[i]));
  }
  const usage = processUsage(cpuStart, startedUs);
  const ms = (us) => (Number.isFinite(us) ? Math.round(us) / 1000 : null);
  return {
    label: opts.label, mode: opts.mode, ok, clients: opts.clients,
    received, distinct, duplicates, bad_payload: bad, disconnects,
    lost: expected ? expected.reduce((n, e) => n + e.lost, 0) : null,
    unexpected: expected ? expected.reduce((n, e) => n + e.unexpected, 0) : null,
    devices_seen: devices.size, max_seq: maxSeq,
    receive_seconds: lastUs > firstUs ? (lastUs - firstUs) / 1e6 : 0,
    latency_ms: {
      count: all.count, p50: ms(all.quantile(0.5)), p90: ms(all.quantile(0.9)),
      p99: ms(all.quantile(0.99)), p999: ms(all.quantile(0.999)), max: ms(all.max),
      negative: all.negative,
    },
    ...usage,
    per_client: perClient,
    errors: errors.slice(0, 20),
  };
}

function report(result) {
  const l = result.latency_ms;
  writeResult(result, opts.out, {
    label: opts.label || opts.mode, mode: opts.mode, ok: result.ok ? 1 : 0, clients: opts.clients,
    received: result.received, distinct: result.distinct, duplicates: result.duplicates,
    lost: result.lost, unexpected: result.unexpected,
    bad_payload: result.bad_payload, disconnects: result.disconnects, devices: result.devices_seen,
    max_seq: result.max_seq, p50_ms: l.p50, p90_ms: l.p90, p99_ms: l.p99, p999_ms: l.p999,
    max_ms: l.max, negative: l.negative, cpu_s: result.cpu_seconds.toFixed(2),
    receive_s: result.receive_seconds.toFixed(3), rss_mib: result.rss_mib,
  });
}

async function stop(ok) {
  if (stopping) return;
  stopping = true;
  // Let what is in flight arrive: until nothing came for settle-ms, at most 5 s.
  await settle(() => lastReceiptUs, opts["settle-ms"]);
  const result = summary(ok && errors.length === 0);
  closeAll(closers);
  report(result);
  process.exit(ok ? 0 : 1);
}

process.on("SIGINT", () => stop(true));
process.on("SIGTERM", () => stop(true));

try {
  const start = opts.mode === "socketio" ? startSocketIo : startMqtt;
  await Promise.all(trackers.map((t) => start(t)));
} catch (err) {
  process.stderr.write(`vitals_clients: ${err.message ?? err}\n`);
  closeAll(closers);
  process.exit(1);
}
process.stdout.write("READY\n");
if (opts.stdin) {
  createInterface({ input: process.stdin }).on("line", (line) => {
    if (line.trim() === "stop") stop(true);
  });
}
if (opts.duration > 0) setTimeout(() => stop(true), opts.duration * 1000);
