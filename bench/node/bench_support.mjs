// Shared by the receiving sides of the benchmarks (event_clients.mjs, vitals_clients.mjs): options
// from argv, the clock, HS256 tokens for the gateway, socket.io connections with a timeout, the
// settling wait before the result and the result's output. Importing it has no side effects.
import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

// Wall time in epoch µs, µs resolution.
export const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;

// parseOptions(opts, name): sets opts' entries (their defaults) from `--key value` arguments; a
// number default takes Number(value), a boolean one is a flag without a value. --help / -h
// points to bench/node/<name>.mjs's header (exit 0); an unknown or incomplete argument exits 2.
export function parseOptions(opts, name) {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(`see the header of bench/node/${name}.mjs\n`);
      process.exit(0);
    }
    const key = arg.replace(/^--/, "");
    if (arg.startsWith("--") && typeof opts[key] === "boolean") {
      opts[key] = true;
      continue;
    }
    if (!arg.startsWith("--") || !(key in opts) || i + 1 >= argv.length) {
      process.stderr.write(`${name}: bad argument ${arg}\n`);
      process.exit(2);
    }
    const value = argv[++i];
    opts[key] = typeof opts[key] === "number" ? Number(value) : value;
  }
  return opts;
}

// mintToken(sub, role, when = ""): an HS256 JWT (6 h) signed with $JWT_SECRET (at least 32 bytes,
// else it throws "JWT_SECRET (at least 32 bytes) is required<when>"); issuer nilecare-auth and
// audience nilecare unless $JWT_ISSUER / $JWT_AUDIENCE say otherwise.
export function mintToken(sub, role, when = "") {
  const secret = process.env.JWT_SECRET ?? "";
  if (secret.length < 32) throw new Error(`JWT_SECRET (at least 32 bytes) is required${when}`);
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({
    sub, role, iss: process.env.JWT_ISSUER ?? "nilecare-auth",
    aud: process.env.JWT_AUDIENCE ?? "nilecare", iat: now, exp: now + 6 * 3600,
  })}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

// withTimeout(promise, what, seconds): promise, or a rejection "<what>: no answer within <seconds> s".
export function withTimeout(promise, what, seconds) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${seconds} s`)), seconds * 1000);
    }),
  ]).finally(() => clearTimeout(timer));
}

// connected(emitter, errorEvent, what, seconds): resolves on the emitter's "connect", rejects on
// its errorEvent (socket.io: "connect_error", mqtt: "error") or after seconds.
export function connected(emitter, errorEvent, what, seconds) {
  return withTimeout(new Promise((resolve, reject) => {
    emitter.once("connect", resolve);
    emitter.once(errorEvent, reject);
  }), what, seconds);
}

// socketIoClient(io, url, token): a new socket.io-client connection (WebSocket transport, no
// reconnection) authenticated with token.
export function socketIoClient(io, url, token) {
  return io(url, { transports: ["websocket"], reconnection: false, forceNew: true, auth: { token } });
}

// settle(lastReceiptUs, settleMs): resolves once nothing has arrived for settleMs (lastReceiptUs()
// is the last receipt's nowUs(), 0 for none), at most 5 s from now.
export async function settle(lastReceiptUs, settleMs) {
  const deadline = nowUs() + 5e6;
  for (;;) {
    const idleUs = nowUs() - lastReceiptUs();
    if (idleUs >= settleMs * 1000 || nowUs() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// closeAll(closers): calls each, whatever the others threw.
export function closeAll(closers) {
  for (const close of closers) {
    try { close(); } catch { /* closing anyway */ }
  }
}

// processUsage(cpuStart, startedUs): this process's CPU seconds since cpuStart (process.cpuUsage()),
// wall seconds since startedUs (nowUs()) and RSS in MiB, as the results report them.
export function processUsage(cpuStart, startedUs) {
  const cpu = process.cpuUsage(cpuStart);
  return {
    cpu_seconds: (cpu.user + cpu.system) / 1e6,
    wall_seconds: (nowUs() - startedUs) / 1e6,
    rss_mib: Math.round(process.memoryUsage().rss / 1048576),
  };
}

// writeResult(result, out, fields): result as JSON to the file out (else stdout), then the line
// `RESULT key=value ...` of fields on stdout (a null or undefined value as "-").
export function writeResult(result, out, fields) {
  const json = `${JSON.stringify(result, null, 2)}\n`;
  if (out) writeFileSync(out, json);
  else process.stdout.write(json);
  process.stdout.write(`RESULT ${Object.entries(fields).map(([k, v]) => `${k}=${v ?? "-"}`).join(" ")}\n`);
}
