// Shared helpers for the realtime (Socket.IO) protocol tests: realtime.test.mjs and
// realtime_scale.test.mjs. Generic on purpose; nothing here knows about a particular test.
//
//   startGateway(overrides)    run build/nilecare-gateway with a generated config on port 0
//   stopGateway(gw)            SIGTERM, then SIGKILL after a deadline
//   mintToken(claims, opts)    HS256 JWT (node:crypto) the gateway accepts by default
//   startCareTeam(decide)      tiny care-team check server (GET ?user_id=&patient_id=)
//   waitFor(cond, opts)        poll a condition until it holds or a deadline passes
//   withTimeout(p, ms, what)   reject with a named error when p does not settle in time
//   nextEvent(emitter, name)   the arguments of the next `name` event, under a deadline
//   connectClient(url, opts)   socket.io-client socket, resolved on 'connect'
//   scrapeMetrics(url)         GET /metrics parsed; metricValue(m, name, labels)
//   postJson(url, body, hdrs)  fetch POST with a JSON body -> { status, body, text }
//   openRawWebSocket(url, o)   hand-driven Engine.IO WebSocket (npm ws) for malformed input
//   rawPolling(url)            hand-driven Engine.IO long-polling session (fetch)
//   requestJson(url, opts)     fetch any method with an optional JSON body, under a deadline
//   loadStackEnv(keys)         the KEY=VALUE lines of NILECARE_STACK_ENV (scripts/stack.sh)
//   recordEvents(socket)       every event a socket.io-client socket receives, with its ack
//   runCommand(file, args, o)  run a program (no shell) -> { code, signal, stdout, stderr }
//   freePort()                 a TCP port on 127.0.0.1 that was free a moment ago
//
// The binary comes from NILECARE_GATEWAY_BIN (ctest sets it), else ../../build/nilecare-gateway
// relative to this file. Works on Node 18+.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { io } from 'socket.io-client';

const here = path.dirname(fileURLToPath(import.meta.url));

export const GATEWAY_BIN =
  process.env.NILECARE_GATEWAY_BIN || path.resolve(here, '../../build/nilecare-gateway');

// Matches the auth.jwt section of baseConfig(); mintToken() signs with it by default.
export const JWT_SECRET = 'realtime-test-secret-0123456789abcdef0123456789';
export const JWT_ISSUER = 'nilecare-auth';
export const JWT_AUDIENCE = 'nilecare';
// For realtime.internal_token when a test wants /internal/* behind a bearer token.
export const INTERNAL_TOKEN = 'internal-token-0123456789abcdef0123456789';

export const kStartMs = 10_000;
export const kStopMs = 5_000;

// ---- deadlines -----------------------------------------------------------------------------

// Rejects with a message naming the step, instead of letting the test hang.
export async function withTimeout(promise, ms, what = 'operation') {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

// Polls `condition` (sync or async; a truthy result ends the wait and is returned) every
// `interval` ms until `timeout` ms have passed, then throws naming `message`.
export async function waitFor(condition, { timeout = 5_000, interval = 20, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`waitFor(${message}): not true within ${timeout} ms` +
                      (lastError ? ` (last error: ${lastError.message})` : ''));
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

// Resolves with the argument array of the next `event` on an EventEmitter-like object
// (socket.io-client sockets, ws, child processes). Rejects after `ms`.
export function nextEvent(emitter, event, ms = 5_000) {
  let handler;
  const p = new Promise((resolve) => {
    handler = (...args) => resolve(args);
    emitter.once(event, handler);
  });
  return withTimeout(p, ms, `event '${event}'`).finally(() => {
    if (emitter.off) emitter.off(event, handler);
    else emitter.removeListener(event, handler);
  });
}

// ---- JWT -----------------------------------------------------------------------------------

const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))
  .toString('base64url');

// claims: merged over { iss, aud, iat, exp: now + 1 h }; set a claim to undefined to drop it.
// opts: { secret, alg ('HS256' | 'none' | anything: header only), header: extra header fields }
export function mintToken(claims = {}, opts = {}) {
  const { secret = JWT_SECRET, alg = 'HS256', header = {} } = opts;
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: JWT_ISSUER, aud: JWT_AUDIENCE, iat: now, exp: now + 3600, ...claims };
  for (const key of Object.keys(payload)) if (payload[key] === undefined) delete payload[key];
  const signingInput = `${b64url({ alg, typ: 'JWT', ...header })}.${b64url(payload)}`;
  if (alg === 'none') return `${signingInput}.`;
  const sig = crypto.createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${sig}`;
}

// ---- gateway process -----------------------------------------------------------------------

export function baseConfig() {
  return {
    service: { name: 'rt-test', threads: 2, shutdown_grace: '2s' },
    log: { level: 'info', format: 'json' },
    http: { listen: '127.0.0.1:0' },
    auth: {
      jwt: {
        algorithms: ['HS256'],
        secret: JWT_SECRET,
        issuer: JWT_ISSUER,
        audience: JWT_AUDIENCE,
        leeway: '0s',
      },
    },
    realtime: { ping_interval: '1s', ping_timeout: '5s' },
  };
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// Deep merge: objects merge key by key, anything else (arrays too) replaces; a value of
// undefined deletes the key.
export function mergeConfig(base, overrides) {
  const out = { ...base };
  for (const [key, value] of Object.entries(overrides || {})) {
    if (value === undefined) delete out[key];
    else if (isPlainObject(value) && isPlainObject(out[key])) out[key] = mergeConfig(out[key], value);
    else out[key] = value;
  }
  return out;
}

// Starts the gateway with baseConfig() deep-merged with `overrides` (e.g. { realtime: {...},
// redis: { url: 'redis://127.0.0.1:6379' } }). The config is written as JSON (valid YAML) to
// a temp dir. Resolves when the log says "gateway ready" (http_port from "gateway started").
//
// Returns gw = { port, url ('http://127.0.0.1:PORT'), wsUrl, proc, config, configPath,
//   logs (array of raw stdout/stderr lines), exited (promise of {code, signal}), stop() }.
// until: 'ready' (default) or 'started': resolve as soon as the HTTP port is known ("gateway
// started"), before every component is up (e.g. to connect a client before the Kafka
// consumer has joined its group).
export async function startGateway(overrides = {}, { timeout = kStartMs, env = {}, until = 'ready' } = {}) {
  const config = mergeConfig(baseConfig(), overrides);
  const dir = mkdtempSync(path.join(tmpdir(), 'nilecare-rt-'));
  const configPath = path.join(dir, 'gateway.yaml');
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);

  const proc = spawn(GATEWAY_BIN, ['--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const logs = [];
  const gw = {
    proc, config, configPath, logs, port: 0, url: '', wsUrl: '',
    exited: new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal }))),
    stop: (ms) => stopGateway(gw, ms),
  };
  gw.exited.then(() => rmSync(dir, { recursive: true, force: true }));

  let onLine;
  const ready = new Promise((resolve, reject) => {
    onLine = (line) => {
      let entry;
      try { entry = JSON.parse(line); } catch { return; }
      if (entry.msg === 'gateway started' && entry.http_port) {
        gw.port = entry.http_port;
        if (until === 'started') resolve();
      }
      if (entry.msg === 'gateway ready' && gw.port) resolve();
    };
    proc.once('error', reject);
    gw.exited.then(({ code, signal }) => reject(new Error(
      `gateway exited before it was ready (code ${code}, signal ${signal}):\n${logs.join('\n')}`)));
  });
  for (const stream of [proc.stdout, proc.stderr]) {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        logs.push(line);
        if (process.env.NILECARE_TEST_VERBOSE) process.stderr.write(`[gw ${proc.pid}] ${line}\n`);
        onLine(line);
      }
    });
  }
  try {
    await withTimeout(ready, timeout, `gateway start (${GATEWAY_BIN})`);
  } catch (err) {
    await stopGateway(gw);
    throw err;
  }
  gw.url = `http://127.0.0.1:${gw.port}`;
  gw.wsUrl = `ws://127.0.0.1:${gw.port}`;
  return gw;
}

// SIGTERM, then SIGKILL when the process has not exited within `ms`. Safe to call twice.
export async function stopGateway(gw, ms = kStopMs) {
  if (!gw || !gw.proc) return undefined;
  if (gw.proc.exitCode !== null || gw.proc.signalCode !== null) return gw.exited;
  gw.proc.kill('SIGTERM');
  try {
    return await withTimeout(gw.exited, ms, 'gateway SIGTERM');
  } catch {
    gw.proc.kill('SIGKILL');
    return withTimeout(gw.exited, ms, 'gateway SIGKILL');
  }
}

// ---- care-team service ---------------------------------------------------------------------

// decide({ userId, patientId, req }) -> status code (number), or { status, body, delayMs },
// or 'hang' (never answer), or 'drop' (reset the connection without an answer). Defaults to
// 200 for everything. Replace at runtime with ct.decide = fn. Records every call in
// ct.calls ([{ userId, patientId, path }]).
// ct.url is the check URL for realtime.patient_access.care_team_url.
export async function startCareTeam(decide = () => 200) {
  const sockets = new Set();
  const ct = { decide, calls: [], url: '', port: 0 };
  const server = http.createServer(async (req, res) => {
    const u = new URL(req.url, 'http://x');
    const call = { userId: u.searchParams.get('user_id'), patientId: u.searchParams.get('patient_id'),
      path: u.pathname };
    ct.calls.push(call);
    let verdict;
    try { verdict = await ct.decide({ ...call, req }); } catch { verdict = 500; }
    if (verdict === 'hang') return;
    if (verdict === 'drop') { req.socket.destroy(); return; }
    if (typeof verdict === 'number') verdict = { status: verdict };
    if (verdict.delayMs) await new Promise((r) => setTimeout(r, verdict.delayMs));
    const body = JSON.stringify(verdict.body ?? { allowed: verdict.status < 300 });
    res.writeHead(verdict.status, { 'content-type': 'application/json' });
    res.end(body);
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  ct.port = server.address().port;
  ct.url = `http://127.0.0.1:${ct.port}/care-team/check`;
  ct.close = () => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
  return ct;
}

// ---- Socket.IO clients -----------------------------------------------------------------------

// Connects a socket.io-client socket (reconnection off unless opts say otherwise) and resolves
// with it on 'connect'; rejects with the connect_error (socket closed) or after `timeout`.
export async function connectClient(url, opts = {}, { timeout = 5_000 } = {}) {
  const socket = io(url, { reconnection: false, forceNew: true, ...opts });
  try {
    await withTimeout(new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    }), timeout, 'socket.io connect');
  } catch (err) {
    socket.close();
    throw err;
  }
  return socket;
}

// Resolves with the connect_error of a connection attempt that must fail.
export async function expectConnectError(url, opts = {}, { timeout = 5_000 } = {}) {
  const socket = io(url, { reconnection: false, forceNew: true, ...opts });
  try {
    return await withTimeout(new Promise((resolve, reject) => {
      socket.once('connect', () => reject(new Error('connected, expected connect_error')));
      socket.once('connect_error', resolve);
    }), timeout, 'socket.io connect_error');
  } finally {
    socket.close();
  }
}

// ---- HTTP ----------------------------------------------------------------------------------

export async function postJson(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed;
  try { parsed = JSON.parse(text); } catch { parsed = undefined; }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

// GET <baseUrl>/metrics -> Map('name{label="v",...}' -> number). Label order is as printed.
export async function scrapeMetrics(baseUrl) {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics returned ${res.status}`);
  const metrics = new Map();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^(\S+?(?:\{.*\})?)\s+(\S+)/.exec(line);
    if (match) metrics.set(match[1], Number(match[2]));
  }
  return metrics;
}

// Value of a series: metricValue(m, 'nilecare_realtime_alerts_total', { event: 'sent' }).
// Matches label sets by content, not order. Without labels, sums every series of `name`.
// Missing -> 0.
export function metricValue(metrics, name, labels) {
  let total = 0;
  for (const [key, value] of metrics) {
    const brace = key.indexOf('{');
    const series = brace < 0 ? key : key.slice(0, brace);
    if (series !== name) continue;
    if (labels) {
      const have = {};
      for (const m of key.slice(brace + 1, -1).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have[m[1]] = m[2];
      if (brace < 0 || !Object.entries(labels).every(([k, v]) => have[k] === String(v))) continue;
    }
    total += value;
  }
  return total;
}

// ---- raw Engine.IO clients (for malformed input) ----------------------------------------------

// A raw WebSocket (npm `ws`) speaking Engine.IO v4 by hand. Answers server pings ("2" -> "3")
// so a heartbeat never explains a close (pong: false turns that off). With `token` it also sends the Socket.IO CONNECT and
// waits for the "40{...}" answer.
// Returns { ws, messages (every text message, in order), closed (promise of { code, reason }),
//   isClosed(), waitMessage(pred, ms) }.
export async function openRawWebSocket(baseUrl, { token, path = '/socket.io/', query = 'EIO=4&transport=websocket',
  timeout = 5_000, pong = true } = {}) {
  const { default: WebSocket } = await import('ws');
  const url = `${baseUrl.replace(/^http/, 'ws')}${path}?${query}`;
  const ws = new WebSocket(url);
  const messages = [];
  const waiters = new Set();
  let closedInfo = null;
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => {
    closedInfo = { code, reason: reason.toString() };
    resolve(closedInfo);
  }));
  ws.on('error', () => {});  // 'close' follows; the test looks at that
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? data : data.toString();
    if (text === '2' && pong) ws.send('3');
    messages.push(text);
    for (const w of waiters) w();
  });
  const waitMessage = (pred, ms = timeout) => {
    let check;
    const p = new Promise((resolve) => {
      check = () => { const m = messages.find(pred); if (m !== undefined) resolve(m); };
      waiters.add(check);
      check();
    });
    return withTimeout(p, ms, 'raw websocket message').finally(() => waiters.delete(check));
  };
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    ws.once('close', () => reject(new Error('closed before open')));
  }), timeout, 'raw websocket open');
  await waitMessage((m) => typeof m === 'string' && m.startsWith('0{'));
  if (token !== undefined) {
    ws.send(`40${JSON.stringify({ token })}`);
    const answer = await waitMessage((m) => typeof m === 'string' && m.startsWith('4'));
    if (!answer.startsWith('40')) throw new Error(`CONNECT refused: ${answer}`);
  }
  return { ws, messages, closed, isClosed: () => closedInfo !== null, waitMessage };
}

// Raw Engine.IO long-polling. open() does the handshake (and CONNECT when `token` is given);
// get()/post() talk to that session. Every request has a deadline.
export function rawPolling(baseUrl, { path = '/socket.io/', timeout = 5_000 } = {}) {
  const base = `${baseUrl}${path}?EIO=4&transport=polling`;
  const request = async (url, init = {}) => {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeout) });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, text, json };
  };
  const session = {
    sid: '',
    open: async (token) => {
      const res = await request(base);
      if (res.status !== 200 || !res.text.startsWith('0{')) throw new Error(`handshake: ${res.status} ${res.text}`);
      session.handshake = JSON.parse(res.text.slice(1));
      session.sid = session.handshake.sid;
      if (token !== undefined) {
        const posted = await session.post(`40${JSON.stringify({ token })}`);
        if (posted.status !== 200) throw new Error(`CONNECT post: ${posted.status} ${posted.text}`);
        const answer = await session.get();
        if (!answer.text.startsWith('40')) throw new Error(`CONNECT refused: ${answer.text}`);
      }
      return session;
    },
    get: () => request(`${base}&sid=${encodeURIComponent(session.sid)}`),
    post: (body) => request(`${base}&sid=${encodeURIComponent(session.sid)}`, {
      method: 'POST', headers: { 'content-type': 'text/plain;charset=UTF-8' }, body }),
    request,
  };
  return session;
}

// ---- generic helpers for tests that need more than Socket.IO ----------------------------------

// fetch with any method: opts { method = 'GET', body (object -> JSON, string as is), headers,
// timeout = 10 s }. -> { status, body (parsed JSON or undefined), text, headers }.
export async function requestJson(url, { method = 'GET', body, headers = {}, timeout = 10_000 } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(timeout) };
  if (body !== undefined) {
    init.headers['content-type'] ??= 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let parsed;
  try { parsed = JSON.parse(text); } catch { parsed = undefined; }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

// The stack.env that scripts/stack.sh writes, named by NILECARE_STACK_ENV, as an object.
// Throws a message saying what to do when the variable, the file or one of `required` is
// missing (a test must fail clearly, not skip).
// Records every event a socket.io-client socket receives: [{ event, args, ack }] (args without
// an ack callback; `ack` holds it when the server asked for one).
export function recordEvents(socket) {
  const events = [];
  socket.onAny((event, ...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
    events.push({ event, args, ack });
  });
  return events;
}

export function loadStackEnv(required = []) {
  const file = process.env.NILECARE_STACK_ENV;
  if (!file) {
    throw new Error('NILECARE_STACK_ENV is not set: point it at the stack.env that ' +
                    '`scripts/stack.sh --profile test up` wrote (build/stack-test/stack.env)');
  }
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read NILECARE_STACK_ENV=${file} (is the stack up?): ${err.message}`);
  }
  const values = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) values[match[1]] = match[2];
  }
  for (const key of required) {
    if (!values[key]) {
      throw new Error(`${key} is missing from ${file}: its server was not started or is down ` +
                      '(scripts/stack.sh --profile test status)');
    }
  }
  return values;
}

// Runs `file` with `args` (no shell). Resolves on exit (not on the end of its output, which a
// daemon it started may keep open) with { code, signal, stdout, stderr }; rejects when it
// cannot be started or does not exit within `timeout` (it is then killed).
export function runCommand(file, args = [], { timeout = 30_000, env, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env, cwd,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} ${args.join(' ')}: no exit within ${timeout} ms\n${stdout}${stderr}`));
    }, timeout);
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      // Let what is already buffered arrive; a daemon holding the pipes must not block us.
      setImmediate(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        resolve({ code, signal, stdout, stderr });
      });
    });
  });
}

// A port the system handed out for 127.0.0.1 and that was closed again: free a moment ago.
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Runs fn(scope); scope.defer(f) registers a cleanup, run in reverse order after fn, whether
// it passed or not. scope.failed tells cleanups that the test failed (to print gateway logs).
// A test that passed fails after all when a cleanup throws (e.g. a gateway that did not exit
// cleanly); when the test failed already, cleanup errors are only printed.
export async function scoped(fn, { cleanupMs = 30_000 } = {}) {
  const cleanups = [];
  const scope = { failed: false, defer: (f) => cleanups.push(f) };
  let result;
  try {
    result = await fn(scope);
  } catch (err) {
    scope.failed = true;
    throw err;
  } finally {
    const errors = [];
    for (const cleanup of cleanups.reverse()) {
      try {
        await withTimeout(Promise.resolve().then(cleanup), cleanupMs, 'cleanup');
      } catch (err) {
        errors.push(err);
        process.stderr.write(`cleanup failed: ${err.message}\n`);
      }
    }
    if (errors.length && !scope.failed) throw errors[0];  // eslint-disable-line no-unsafe-finally
  }
  return result;
}
