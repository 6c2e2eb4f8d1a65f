// Scale, multi-instance and recovery tests of the gateway's Socket.IO server with the real
// npm socket.io-client@4 (and, where the client library cannot express the case, a raw
// Engine.IO WebSocket from `ws`):
//
//   1. 1,000 concurrent WebSocket clients on one gateway, 10 patient rooms, one emit per room
//   2. two gateways sharing one Redis (redis_fanout): room events and alert acknowledgements
//      cross instances exactly once
//   3. connection state recovery after a transport close: missed events replayed once and in
//      order with the same socket id; not for another user; patient rooms re-authorised
//
// Only test 2 needs Redis: NILECARE_STACK_ENV names the stack.env of scripts/stack.sh, whose
// NILECARE_REDIS_URL it uses.
//
//   bash scripts/stack.sh --profile test --only redis up
//   cd tests/node && NILECARE_STACK_ENV=../../build/stack-test/stack.env \
//     node --test realtime_scale.test.mjs
//
// The gateway binary: NILECARE_GATEWAY_BIN (ctest sets it), else ../../build/nilecare-gateway.
// Every wait has a deadline; "did not arrive" is shown with a sentinel event sent later on
// the same connection (a connection receives room packets in the order they were emitted).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import WebSocket from 'ws';

import {
  loadStackEnv, recordEvents,
  connectClient, metricValue, mintToken, postJson, scrapeMetrics, startGateway, stopGateway,
  waitFor, withTimeout,
} from './realtime_support.mjs';

const kClients = 1000;
const kRooms = 10;
const kBatch = 100;
const kStepMs = 15_000;

// Heartbeats are not under test here: generous values, so that a busy test process (1,000
// clients on two cores) is never dropped for a late pong.
const kQuietHeartbeat = { ping_interval: '20s', ping_timeout: '20s' };

// ---- environment ---------------------------------------------------------------------------


// ---- small helpers -------------------------------------------------------------------------

const gateways = [];
after(async () => {
  await Promise.all(gateways.map((gw) => stopGateway(gw).catch(() => {})));
});

async function gateway(overrides) {
  const gw = await startGateway(overrides);
  gateways.push(gw);
  return gw;
}

async function emit(gw, room, event, data) {
  const res = await withTimeout(postJson(`${gw.url}/internal/emit`, { room, event, data }),
                                kStepMs, `POST /internal/emit ${event} -> ${room}`);
  assert.equal(res.status, 202, `/internal/emit ${event} -> ${room}: ${res.text}`);
  return res.body;
}

async function metric(gw, name, labels) {
  return metricValue(await scrapeMetrics(gw.url), name, labels);
}

async function waitMetric(gw, name, labels, expected, timeout = kStepMs) {
  let last;
  try {
    await waitFor(async () => (last = await metric(gw, name, labels)) === expected,
                  { timeout, interval: 50, message: `${name}${JSON.stringify(labels ?? {})} == ${expected}` });
  } catch (err) {
    err.message += ` (last value ${last})`;
    throw err;
  }
}


const named = (events, ...names) => events.filter((e) => names.includes(e.event));
const count = (events, name) => named(events, name).length;

async function waitEvent(events, predicate, what, timeout = kStepMs) {
  return waitFor(() => events.find(predicate), { timeout, message: what });
}

function token(sub, role = 'doctor') {
  return mintToken({ sub, role });
}

async function client(gw, sub, role = 'doctor', opts = {}) {
  const socket = await connectClient(gw.url, {
    auth: { token: token(sub, role) }, transports: ['websocket'], ...opts,
  }, { timeout: kStepMs });
  return socket;
}

async function subscribe(socket, patient) {
  const reply = await socket.timeout(kStepMs).emitWithAck('subscribe:patient', patient);
  assert.deepEqual(reply, { success: true, room: `patient:${patient}` });
}

function closeAll(sockets) {
  for (const socket of sockets) socket.disconnect();
}

// A Socket.IO client spoken by hand over an Engine.IO v4 WebSocket: for CONNECT payloads the
// npm client only builds from its own private state (a pid/offset with another user's token).
async function rawClient(gw, connectData) {
  const ws = new WebSocket(`${gw.wsUrl}/socket.io/?EIO=4&transport=websocket`);
  const frames = [];
  let closed = false;
  ws.on('message', (data) => {
    const text = data.toString();
    if (text === '2') ws.send('3');  // Engine.IO ping -> pong
    else frames.push(text);
  });
  ws.on('close', () => { closed = true; });
  ws.on('error', () => {});
  const openFrame = await waitFor(() => frames.find((f) => f.startsWith('0')),
                                  { timeout: kStepMs, message: 'Engine.IO open packet' });
  const open = JSON.parse(openFrame.slice(1));
  ws.send(`40${JSON.stringify(connectData)}`);
  const reply = await waitFor(() => frames.find((f) => f.startsWith('40') || f.startsWith('44')),
                              { timeout: kStepMs, message: 'Socket.IO CONNECT reply' });
  assert.ok(reply.startsWith('40'), `CONNECT refused: ${reply}`);
  const raw = {
    ws, frames, open,
    connect: JSON.parse(reply.slice(2)),
    get closed() { return closed; },
    // Socket.IO EVENT packets received so far: [{ event, args, ackId }].
    events() {
      const out = [];
      for (const f of frames) {
        const m = /^42(\d*)(\[.*)$/s.exec(f);
        if (!m) continue;
        const [event, ...args] = JSON.parse(m[2]);
        out.push({ event, args, ackId: m[1] ? Number(m[1]) : undefined });
      }
      return out;
    },
    close() {
      ws.close();
      return waitFor(() => closed, { timeout: kStepMs, message: 'raw WebSocket closed' });
    },
  };
  return raw;
}

// ---- 1. 1,000 clients ----------------------------------------------------------------------

test(`${kClients} concurrent WebSocket clients, ${kRooms} patient rooms, one emit per room`,
     { timeout: 180_000 }, async () => {
  const gw = await gateway({
    service: { name: 'rt-scale' },
    http: { max_connections: 20000 },
    realtime: { ...kQuietHeartbeat },
  });
  const clients = [];  // { socket, events, room }
  try {
    for (let start = 0; start < kClients; start += kBatch) {
      const batch = [];
      for (let i = start; i < Math.min(start + kBatch, kClients); i++) {
        batch.push((async () => {
          const socket = await client(gw, `scale-u${i}`);
          const events = recordEvents(socket);
          const patient = `scale-P${i % kRooms}`;
          clients[i] = { socket, events, room: `patient:${patient}`, index: i % kRooms };
          await subscribe(socket, patient);
        })());
      }
      await Promise.all(batch);
    }
    assert.equal(clients.filter(Boolean).length, kClients);
    await waitMetric(gw, 'nilecare_realtime_sockets', undefined, kClients);
    assert.equal(await metric(gw, 'nilecare_realtime_connections', { transport: 'websocket' }),
                 kClients);
    assert.equal(await metric(gw, 'nilecare_realtime_connections', { transport: 'polling' }), 0);

    for (let r = 0; r < kRooms; r++) {
      const body = await emit(gw, `patient:scale-P${r}`, 'scale:room',
                              { room: `patient:scale-P${r}`, n: r });
      assert.equal(body.data?.local_recipients, kClients / kRooms,
                   `recipients of patient:scale-P${r}: ${JSON.stringify(body)}`);
    }
    // Sentinel to every client (all are in role:doctor): after it, nothing else is in flight.
    await emit(gw, 'role:doctor', 'scale:done', {});
    await waitFor(() => clients.every((c) => count(c.events, 'scale:done') === 1),
                  { timeout: 60_000, interval: 50,
                    message: `all ${kClients} clients got the sentinel` });

    for (const [i, c] of clients.entries()) {
      const got = c.events.map((e) => e.event);
      assert.deepEqual(got, ['scale:room', 'scale:done'], `client ${i} (${c.room}) got ${got}`);
      const [data, offset, ...rest] = c.events[0].args;
      assert.deepEqual(data, { room: c.room, n: c.index }, `client ${i}`);
      assert.equal(typeof offset, 'string', `client ${i}: recovery offset argument`);
      assert.deepEqual(rest, [], `client ${i}: extra arguments`);
    }
  } finally {
    closeAll(clients.filter(Boolean).map((c) => c.socket));
  }
  await waitMetric(gw, 'nilecare_realtime_sockets', undefined, 0, 60_000);
  await waitMetric(gw, 'nilecare_realtime_connections', { transport: 'websocket' }, 0, 60_000);
  await stopGateway(gw);
});

// ---- 2. two instances, one Redis -------------------------------------------------------------

test('two gateways sharing Redis: room events and alert acknowledgements cross instances once',
     { timeout: 120_000 }, async () => {
  const redisUrl = loadStackEnv(['NILECARE_REDIS_URL']).NILECARE_REDIS_URL;
  const prefix = `test-${randomUUID().slice(0, 8)}:`;
  const config = (name) => ({
    service: { name },
    redis: { url: redisUrl, key_prefix: prefix },
    realtime: {
      ...kQuietHeartbeat,
      recovery_window: '2m',
      redis_fanout: true,
      alert_ack_timeout: '2s',
      alert_max_resends: 2,
    },
  });
  const [A, B] = await Promise.all([gateway(config('rt-fanout-a')), gateway(config('rt-fanout-b'))]);
  const sockets = [];
  try {
    const a1 = await client(A, 'fan-a1');
    const b1 = await client(B, 'fan-b1');
    const b2 = await client(B, 'fan-b2');  // on B, not in patient:P1
    sockets.push(a1, b1, b2);
    const ev = { a1: recordEvents(a1), b1: recordEvents(b1), b2: recordEvents(b2) };
    // b1 acknowledges alerts of kind 'ack-me'; nobody else acknowledges anything.
    b1.on('alert:critical', (data, ack) => {
      if (data?.kind === 'ack-me' && typeof ack === 'function') ack({ ok: true });
    });
    await subscribe(a1, 'P1');
    await subscribe(b1, 'P1');

    // Each instance subscribes to the channel after it started: poll until both directions
    // carry a message (warm-up events are ignored below).
    await waitFor(async () => {
      if (!count(ev.b1, 'fan:warm')) await emit(A, 'user:fan-b1', 'fan:warm', {});
      if (!count(ev.a1, 'fan:warm')) await emit(B, 'user:fan-a1', 'fan:warm', {});
      return count(ev.b1, 'fan:warm') && count(ev.a1, 'fan:warm');
    }, { timeout: kStepMs, interval: 250, message: 'Redis fan-out works in both directions' });

    // Emitted on A: the client on A gets it locally, the client on B through Redis.
    await emit(A, 'patient:P1', 'fan:one', { n: 1 });
    await waitFor(() => count(ev.a1, 'fan:one') && count(ev.b1, 'fan:one'),
                  { timeout: kStepMs, message: 'fan:one on A and B' });
    // Emitted on B.
    await emit(B, 'patient:P1', 'fan:two', { n: 2 });
    await waitFor(() => count(ev.a1, 'fan:two') && count(ev.b1, 'fan:two'),
                  { timeout: kStepMs, message: 'fan:two on A and B' });
    // Sentinels from both sides to everyone (role:doctor spans both instances). A duplicate
    // (an instance delivering its own message again when Redis echoes it) would come through
    // that instance's subscription before the other instance's sentinel, which was
    // published after it.
    await emit(A, 'role:doctor', 'fan:end', { from: 'A' });
    await emit(B, 'role:doctor', 'fan:end', { from: 'B' });
    await waitFor(() => [ev.a1, ev.b1, ev.b2].every((e) => count(e, 'fan:end') === 2),
                  { timeout: kStepMs, message: 'both sentinels everywhere' });

    const sequence = (events) => named(events, 'fan:one', 'fan:two').map((e) => [e.event, e.args[0]]);
    const expected = [['fan:one', { n: 1 }], ['fan:two', { n: 2 }]];
    assert.deepEqual(sequence(ev.a1), expected, 'client on A: each room event exactly once');
    assert.deepEqual(sequence(ev.b1), expected, 'client on B: each room event exactly once');
    assert.deepEqual(sequence(ev.b2), [], 'client on B outside patient:P1 got room events');
    for (const [who, events] of Object.entries(ev)) {
      for (const e of named(events, 'fan:one', 'fan:two', 'fan:end')) {
        assert.equal(e.args.length, 2, `${who} ${e.event}: data + offset`);
        assert.equal(typeof e.args[1], 'string', `${who} ${e.event}: offset`);
      }
      assert.deepEqual(named(events, 'fan:end').map((e) => e.args[0].from).sort(), ['A', 'B'], who);
    }
    assert.ok(await metric(A, 'nilecare_realtime_broadcasts_total', { origin: 'redis' }) >= 2);
    assert.ok(await metric(B, 'nilecare_realtime_broadcasts_total', { origin: 'redis' }) >= 2);

    // An alert raised on A, acknowledged by the client on B: A learns it through Redis.
    const raised = await emit(A, 'patient:P1', 'alert:critical', { patient_id: 'P1', kind: 'ack-me' });
    const alertId = raised.data?.alert_id;
    assert.equal(typeof alertId, 'string', JSON.stringify(raised));
    await waitEvent(ev.b1, (e) => e.event === 'alert:critical' && e.args[0].alert_id === alertId,
                    'alert on B');
    await waitMetric(A, 'nilecare_realtime_alerts_total', { event: 'acknowledged' }, 1);
    assert.equal(await metric(B, 'nilecare_realtime_alerts_total', { event: 'acknowledged' }), 0,
                 'B did not raise the alert: A counts the acknowledgement');

    // Sentinel: a second alert, to b2 only, that nobody acknowledges. When A has given up on
    // it (alert_max_resends resends, then "unacknowledged"), the first alert's timer would
    // long since have fired had the acknowledgement not reached A.
    const raised2 = await emit(A, 'user:fan-b2', 'alert:critical', { patient_id: 'P1', kind: 'ignore-me' });
    const alertId2 = raised2.data?.alert_id;
    await waitMetric(A, 'nilecare_realtime_alerts_total', { event: 'unacknowledged' }, 1, 30_000);
    await emit(A, 'role:doctor', 'fan:end2', {});
    await waitFor(() => [ev.a1, ev.b1, ev.b2].every((e) => count(e, 'fan:end2') === 1),
                  { timeout: kStepMs, message: 'second sentinel everywhere' });

    const m = await scrapeMetrics(A.url);
    const alerts = (event) => metricValue(m, 'nilecare_realtime_alerts_total', { event });
    assert.equal(alerts('sent'), 2);
    assert.equal(alerts('acknowledged'), 1);
    assert.equal(alerts('escalated'), 2, 'only the unacknowledged alert was re-sent');
    assert.equal(alerts('unacknowledged'), 1, 'only the unacknowledged alert escalated');
    const alertCopies = (events, id) =>
      named(events, 'alert:critical').filter((e) => e.args[0].alert_id === id).length;
    assert.equal(alertCopies(ev.a1, alertId), 1, 'client on A: the acknowledged alert once');
    assert.equal(alertCopies(ev.b1, alertId), 1, 'client on B: the acknowledged alert once');
    assert.equal(alertCopies(ev.b2, alertId), 0, 'b2 is not in patient:P1');
    assert.equal(alertCopies(ev.b2, alertId2), 3, 'unacknowledged alert: sent + 2 resends via Redis');
    assert.equal(alertCopies(ev.a1, alertId2) + alertCopies(ev.b1, alertId2), 0);
    for (const e of named(ev.b1, 'alert:critical')) {
      assert.equal(e.args.length, 1, 'an alert carries no recovery offset');
      assert.equal(typeof e.ack, 'function', 'an alert asks for an acknowledgement');
    }
  } finally {
    closeAll(sockets);
  }
  await Promise.all([stopGateway(A), stopGateway(B)]);
});

// ---- 3. connection state recovery ------------------------------------------------------------

describe('connection state recovery after a forced disconnect', () => {
  let gw;
  const open = [];  // sockets / raw clients to close after each case

  // Runs a case, then closes what it opened and waits until the server has let go of it, so
  // the next case starts from zero sockets. A failing case keeps its own error.
  async function withCleanup(body) {
    let failed = false;
    try {
      await body();
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      for (const s of open.splice(0)) {
        if (typeof s.disconnect === 'function') s.disconnect();
        else await s.close().catch(() => {});
      }
      const settled = waitMetric(gw, 'nilecare_realtime_sockets', undefined, 0);
      if (failed) await settled.catch(() => {});
      else await settled;
    }
  }

  // A reconnecting client whose auth callback reads `state.token` and, while `state.hold` is
  // set, does not answer: the Engine.IO session is open but the Socket.IO CONNECT (with the
  // pid and offset) is not sent until the test releases it. That holds the client
  // disconnected at the Socket.IO level for as long as the test needs, with reconnection on.
  function gatedClient(sub, role) {
    const state = { token: token(sub, role), hold: false, release: null, authCalls: 0 };
    state.auth = (cb) => {
      state.authCalls++;
      if (!state.hold) return cb({ token: state.token });
      state.release = () => cb({ token: state.token });
      return undefined;
    };
    return state;
  }

  // A WebSocket client that reconnects quickly by itself, closed after the case.
  async function reconnectingClient(gate) {
    const socket = await connectClient(gw.url, {
      auth: gate.auth, transports: ['websocket'],
      reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 200, randomizationFactor: 0,
    }, { timeout: kStepMs });
    open.push(socket);
    return socket;
  }

  // Forces a transport close the client did not ask for (as if the network dropped):
  // socket.io-client keeps its pid and last offset and reconnects by itself.
  async function forceTransportClose(socket) {
    const disconnected = new Promise((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
    socket.io.engine.close();
    const reason = await withTimeout(disconnected, kStepMs, 'disconnect');
    assert.notEqual(reason, 'io client disconnect');
    assert.notEqual(reason, 'io server disconnect');
    // The server has closed the old socket (and saved its session) before anything is emitted.
    await waitMetric(gw, 'nilecare_realtime_sockets', undefined, 0);
    return reason;
  }

  test('start gateway', async () => {
    gw = await gateway({
      service: { name: 'rt-recovery' },
      realtime: { ...kQuietHeartbeat, recovery_window: '2m' },
    });
  });

  test('missed events are replayed once, in order, with the same socket id', { timeout: 60_000 },
       async () => withCleanup(async () => {
    const gate = gatedClient('rec-u1', 'doctor');
    const socket = await reconnectingClient(gate);
    const events = recordEvents(socket);
    assert.equal(socket.recovered, false);
    await subscribe(socket, 'P1');
    await emit(gw, 'patient:P1', 'rec:e', { n: 1 });
    const e1 = await waitEvent(events, (e) => e.event === 'rec:e', 'e1');
    const offset1 = e1.args[1];
    assert.equal(typeof offset1, 'string');
    const id1 = socket.id;
    const authCallsBefore = gate.authCalls;
    const recoveredBefore = await metric(gw, 'nilecare_realtime_recoveries_total', { result: 'recovered' });

    gate.hold = true;
    const reconnected = new Promise((resolve) => socket.once('connect', resolve));
    await forceTransportClose(socket);
    await emit(gw, 'patient:P1', 'rec:e', { n: 2 });
    await emit(gw, 'patient:P1', 'rec:e', { n: 3 });
    // The client's Manager reconnected the transport and asked for the CONNECT payload.
    await waitFor(() => gate.release && gate.authCalls > authCallsBefore,
                  { timeout: kStepMs, message: 'client reopened the transport' });
    assert.equal(count(events, 'rec:e'), 1, 'nothing arrived while disconnected');
    gate.hold = false;
    gate.release();
    await withTimeout(reconnected, kStepMs, 'reconnect');

    assert.equal(socket.recovered, true, 'socket.recovered');
    assert.equal(socket.id, id1, 'same socket id after recovery');
    await waitFor(() => count(events, 'rec:e') >= 3, { timeout: kStepMs, message: 'e2, e3 replayed' });
    // Live again, and still in its rooms: a patient-room event, then a user-room sentinel.
    await emit(gw, 'patient:P1', 'rec:e', { n: 4 });
    await emit(gw, 'user:rec-u1', 'rec:sentinel', {});
    await waitEvent(events, (e) => e.event === 'rec:sentinel', 'sentinel');

    assert.deepEqual(events.map((e) => [e.event, e.args[0]]), [
      ['rec:e', { n: 1 }], ['rec:e', { n: 2 }], ['rec:e', { n: 3 }], ['rec:e', { n: 4 }],
      ['rec:sentinel', {}],
    ]);
    const offsets = events.map((e) => e.args[1]);
    assert.equal(new Set(offsets).size, offsets.length, `offsets are distinct: ${offsets}`);
    assert.equal(await metric(gw, 'nilecare_realtime_recoveries_total', { result: 'recovered' }),
                 recoveredBefore + 1);
  }));

  test('another user presenting the pid and offset gets a fresh session', { timeout: 60_000 },
       async () => withCleanup(async () => {
    const failedBefore = await metric(gw, 'nilecare_realtime_recoveries_total', { result: 'not_recovered' });
    const recoveredBefore = await metric(gw, 'nilecare_realtime_recoveries_total', { result: 'recovered' });
    const victim = await rawClient(gw, { token: token('rec-victim', 'doctor') });
    open.push(victim);
    const { sid, pid } = victim.connect;
    assert.equal(typeof sid, 'string');
    assert.equal(typeof pid, 'string', 'recovery is on: the CONNECT reply carries a pid');
    victim.ws.send(`421${JSON.stringify(['subscribe:patient', 'P2'])}`);
    const ackFrame = await waitFor(() => victim.frames.find((f) => f.startsWith('431[')),
                                   { timeout: kStepMs, message: 'victim subscribe ack' });
    assert.deepEqual(JSON.parse(ackFrame.slice(3)), [{ success: true, room: 'patient:P2' }]);
    await emit(gw, 'patient:P2', 'rec:v', { n: 1 });
    const v1 = await waitFor(() => victim.events().find((e) => e.event === 'rec:v'),
                             { timeout: kStepMs, message: 'victim got v1' });
    const offset = v1.args[1];
    assert.equal(typeof offset, 'string');
    await victim.close();  // transport close: the session is kept for recovery
    await waitMetric(gw, 'nilecare_realtime_sockets', undefined, 0);
    await emit(gw, 'patient:P2', 'rec:v', { n: 2 });  // missed by the victim

    const attacker = await rawClient(gw, { token: token('rec-attacker', 'doctor'), pid, offset });
    open.push(attacker);
    assert.notEqual(attacker.connect.sid, sid, 'not the victim\'s socket id');
    assert.notEqual(attacker.connect.pid, pid, 'a new pid');
    await waitMetric(gw, 'nilecare_realtime_recoveries_total', { result: 'not_recovered' }, failedBefore + 1);
    assert.equal(await metric(gw, 'nilecare_realtime_recoveries_total', { result: 'recovered' }),
                 recoveredBefore, 'not counted as recovered');
    // Not in the victim's rooms and nothing replayed: a patient:P2 event, then a sentinel.
    await emit(gw, 'patient:P2', 'rec:v', { n: 3 });
    await emit(gw, 'user:rec-attacker', 'rec:sentinel', {});
    await waitFor(() => attacker.events().some((e) => e.event === 'rec:sentinel'),
                  { timeout: kStepMs, message: 'attacker got the sentinel' });
    assert.deepEqual(attacker.events().map((e) => e.event), ['rec:sentinel']);

    // The attempt did not spoil the owner's session: the victim still recovers, gets v2 and
    // v3 (missed while away), in order.
    const owner = await rawClient(gw, { token: token('rec-victim', 'doctor'), pid, offset });
    open.push(owner);
    assert.equal(owner.connect.sid, sid, 'the owner recovers its own socket id');
    await emit(gw, 'user:rec-victim', 'rec:sentinel', {});
    await waitFor(() => owner.events().some((e) => e.event === 'rec:sentinel'),
                  { timeout: kStepMs, message: 'owner got the sentinel' });
    assert.deepEqual(owner.events().map((e) => [e.event, e.args[0]]),
                     [['rec:v', { n: 2 }], ['rec:v', { n: 3 }], ['rec:sentinel', {}]]);
  }));

  test('same user, role no longer allowed in patient rooms: recovered without them',
       { timeout: 60_000 }, async () => withCleanup(async () => {
    const gate = gatedClient('rec-u3', 'doctor');
    const socket = await reconnectingClient(gate);
    const events = recordEvents(socket);
    await subscribe(socket, 'P3');
    await emit(gw, 'patient:P3', 'rec:p', { n: 1 });
    await waitEvent(events, (e) => e.event === 'rec:p', 'e1');
    const id1 = socket.id;
    const recoveredBefore = await metric(gw, 'nilecare_realtime_recoveries_total', { result: 'recovered' });

    gate.hold = true;
    gate.token = token('rec-u3', 'receptionist');  // the next CONNECT carries the new role
    const reconnected = new Promise((resolve) => socket.once('connect', resolve));
    await forceTransportClose(socket);
    await emit(gw, 'patient:P3', 'rec:p', { n: 2 });       // must not be replayed
    await emit(gw, 'user:rec-u3', 'rec:user', { n: 2 });   // must be replayed
    await waitFor(() => gate.release, { timeout: kStepMs, message: 'client reopened the transport' });
    gate.hold = false;
    gate.release();
    await withTimeout(reconnected, kStepMs, 'reconnect');

    assert.equal(socket.recovered, true, 'socket.recovered');
    assert.equal(socket.id, id1, 'same socket id after recovery');
    assert.equal(await metric(gw, 'nilecare_realtime_recoveries_total', { result: 'recovered' }),
                 recoveredBefore + 1);
    await emit(gw, 'patient:P3', 'rec:p', { n: 3 });          // not a member any more
    await emit(gw, 'role:doctor', 'rec:role', { role: 'doctor' });  // old role room: left
    await emit(gw, 'role:receptionist', 'rec:role', { role: 'receptionist' });
    await emit(gw, 'user:rec-u3', 'rec:sentinel', {});
    await waitEvent(events, (e) => e.event === 'rec:sentinel', 'sentinel');
    assert.deepEqual(events.map((e) => [e.event, e.args[0]]), [
      ['rec:p', { n: 1 }],
      ['rec:user', { n: 2 }],
      ['rec:role', { role: 'receptionist' }],
      ['rec:sentinel', {}],
    ]);
    // And the new role cannot join again.
    const reply = await socket.timeout(kStepMs).emitWithAck('subscribe:patient', 'P3');
    assert.equal(reply.success, false, JSON.stringify(reply));
  }));

  test('a stream of events across repeated forced disconnects arrives exactly once, in order',
       { timeout: 120_000 }, async (t) => withCleanup(async () => {
    const gate = gatedClient('rec-u4', 'doctor');
    const socket = await reconnectingClient(gate);
    const events = recordEvents(socket);
    await subscribe(socket, 'P4');
    const id1 = socket.id;
    const received = () => named(events, 'rec:s').length;

    // Emits 1, 2, 3, ... back to back (each POST answered before the next) until stopped, so
    // that events are broadcast while the client is connected, while it is gone, and while
    // the server replays and re-joins it.
    let stop = false;
    let sent = 0;
    const emitter = (async () => {
      while (!stop) await emit(gw, 'patient:P4', 'rec:s', { n: ++sent });
    })();
    try {
      for (let cycle = 1; cycle <= 5; cycle++) {
        const target = received() + 20;
        await waitFor(() => received() >= target,
                      { timeout: kStepMs, message: `cycle ${cycle}: live events flowing` });
        gate.hold = true;
        gate.release = null;
        const reconnected = new Promise((resolve) => socket.once('connect', resolve));
        await forceTransportClose(socket);
        const sentWhileGone = sent;
        await waitFor(() => gate.release && sent >= sentWhileGone + 5,
                      { timeout: kStepMs, message: `cycle ${cycle}: transport reopened, events missed` });
        gate.hold = false;
        gate.release();
        await withTimeout(reconnected, kStepMs, `cycle ${cycle}: reconnect`);
        assert.equal(socket.recovered, true, `cycle ${cycle}: socket.recovered`);
        assert.equal(socket.id, id1, `cycle ${cycle}: same socket id`);
      }
    } finally {
      stop = true;
      await withTimeout(emitter, kStepMs, 'emitter stopped');
    }
    await emit(gw, 'patient:P4', 'rec:sentinel', {});
    await waitEvent(events, (e) => e.event === 'rec:sentinel', 'sentinel', 30_000);
    const numbers = named(events, 'rec:s').map((e) => e.args[0].n);
    t.diagnostic(`${sent} events across 5 forced disconnects`);
    const expected = Array.from({ length: sent }, (_, i) => i + 1);
    if (JSON.stringify(numbers) !== JSON.stringify(expected)) {
      const missing = expected.filter((n) => !numbers.includes(n));
      const dupes = numbers.filter((n, i) => numbers.indexOf(n) !== i);
      assert.fail(`events 1..${sent}: got ${numbers.length}; missing ${missing.slice(0, 20)}; ` +
                  `duplicated ${dupes.slice(0, 20)}; first out of order at index ` +
                  `${numbers.findIndex((n, i) => n !== expected[i])}`);
    }
  }));

  test('stop gateway', async () => {
    await stopGateway(gw);
  });
});
