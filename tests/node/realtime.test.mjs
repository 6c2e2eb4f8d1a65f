// Protocol-compatibility tests of the gateway's Socket.IO server (src/realtime) with the real
// npm socket.io-client@4, plus raw Engine.IO clients (ws, fetch) for malformed input.
//
//   cd tests/node && NILECARE_GATEWAY_BIN=../../build/nilecare-gateway node --test realtime.test.mjs
//
// Each gateway runs on port 0 with a generated config (realtime_support.mjs). Every wait has a
// deadline; "X did not arrive" is shown with a sentinel: a later event on the same connection
// (a connection delivers in order), after which X's absence is asserted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { NodeXHR, NodeWebSocket } from 'engine.io-client';
import { io } from 'socket.io-client';

import {
  INTERNAL_TOKEN, connectClient, expectConnectError, metricValue, mintToken, openRawWebSocket,
  postJson, rawPolling, scrapeMetrics, startCareTeam, startGateway, waitFor, withTimeout,
} from './realtime_support.mjs';

const kAckMs = 5_000;
const kEventMs = 5_000;

// ---- fixtures --------------------------------------------------------------------------------

// Care-team answers by patient id, so tests need no shared mutable state.
function careTeamDecision({ userId, patientId }) {
  if (userId === 'u-outsider') return 403;
  if (patientId.startsWith('P-deny403')) return 403;
  if (patientId.startsWith('P-deny404')) return 404;
  if (patientId.startsWith('P-err500')) return 500;
  if (patientId.startsWith('P-hang')) return 'hang';
  if (patientId.startsWith('P-drop')) return 'drop';
  return 200;
}

let careTeam;
let gw;            // the main gateway: care-team check, short heartbeats and alert timers
let gwSmall;       // max_payload 4096 and an internal_token
const sockets = new Set();

before(async () => {
  careTeam = await startCareTeam(careTeamDecision);
  gw = await startGateway({
    realtime: {
      // A short interval exercises heartbeats; a longer timeout keeps a test machine that is
      // busy for a second (ctest -j, sanitizers) from dropping clients that are fine.
      ping_interval: '1s',
      ping_timeout: '5s',
      connect_timeout: '5s',
      alert_ack_timeout: '2s',
      alert_max_resends: 2,
      patient_access: {
        roles: ['doctor', 'nurse'], care_team_url: careTeam.url, cache_ttl: '0s', timeout: '1s',
      },
    },
  });
  gwSmall = await startGateway({
    service: { name: 'rt-test-small' },
    realtime: { max_payload: 4096, internal_token: INTERNAL_TOKEN },
  });
  gwSmall.internalHeaders = { authorization: `Bearer ${INTERNAL_TOKEN}` };
});

after(async () => {
  for (const s of sockets) s.close();
  await Promise.all([gw?.stop(), gwSmall?.stop()]);
  await careTeam?.close();
});

// ---- helpers ---------------------------------------------------------------------------------

function token(sub, role = 'doctor', extra = {}) {
  return mintToken({ sub, role, ...extra });
}

async function client(sub, role = 'doctor', opts = {}, target = gw) {
  const socket = await connectClient(target.url, {
    transports: ['websocket'], auth: { token: token(sub, role) }, ...opts,
  });
  sockets.add(socket);
  return socket;
}

function release(...list) {
  for (const s of list) {
    s.close();
    sockets.delete(s);
  }
}

// Every argument list of `event` on `socket`, in arrival order.
function record(socket, event) {
  const seen = [];
  socket.on(event, (...args) => seen.push(args));
  return seen;
}

const ack = (socket, event, ...args) => socket.timeout(kAckMs).emitWithAck(event, ...args);
const subscribe = (socket, patient) => ack(socket, 'subscribe:patient', patient);

const emit = (body, target = gw, headers = {}) => postJson(`${target.url}/internal/emit`, body, headers);
const notify = (body, target = gw, headers = {}) =>
  postJson(`${target.url}/internal/notifications`, body, headers);

let sentinelSeq = 0;
// Sends 'test:sentinel' to user:{userId} and resolves once `socket` has it: anything broadcast
// to that socket before the call has been delivered by then.
async function sentinel(socket, userId, target = gw) {
  const n = ++sentinelSeq;
  const got = new Promise((resolve) => {
    const handler = (data) => {
      if (data?.n !== n) return;
      socket.off('test:sentinel', handler);
      resolve();
    };
    socket.on('test:sentinel', handler);
  });
  const res = await emit({ room: `user:${userId}`, event: 'test:sentinel', data: { n } }, target,
    target.internalHeaders);
  assert.equal(res.status, 202, res.text);
  await withTimeout(got, kEventMs, `sentinel ${n} for ${userId}`);
}

const metrics = (target = gw) => scrapeMetrics(target.url);
async function metric(name, labels, target = gw) {
  return metricValue(await metrics(target), name, labels);
}

async function assertHealthy(target = gw) {
  const res = await fetch(`${target.url}/health`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(res.status, 200);
  assert.equal(target.proc.exitCode, null, 'gateway process is still running');
}

const vitals = (patient, extra = {}) => ({ patient_id: patient, hr: 80, bp: '120/80', spo2: 98, temp: 36.8, ...extra });

// ---- CONNECT and authentication ----------------------------------------------------------------

describe('CONNECT authentication', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const refused = [
    ['no auth payload', undefined, 'missing_token'],
    ['auth without a token', {}, 'missing_token'],
    ['a garbage token', { token: 'not-a-jwt' }, 'malformed'],
    ['an expired token', { token: mintToken({ sub: 'u1', role: 'doctor', exp: now() - 60, iat: now() - 120 }) }, 'expired'],
    ['alg none', { token: mintToken({ sub: 'u1', role: 'doctor' }, { alg: 'none' }) }, 'unsupported_algorithm'],
    ['the wrong audience', { token: mintToken({ sub: 'u1', role: 'doctor', aud: 'someone-else' }) }, 'wrong_audience'],
    ['the wrong issuer', { token: mintToken({ sub: 'u1', role: 'doctor', iss: 'evil' }) }, 'wrong_issuer'],
    ['a bad signature', { token: mintToken({ sub: 'u1', role: 'doctor' }, { secret: 'another-secret-0123456789abcdef0123' }) }, 'bad_signature'],
    ['no subject', { token: mintToken({ role: 'doctor' }) }, 'missing_subject'],
  ];
  for (const [name, auth, reason] of refused) {
    for (const transports of [['websocket'], ['polling']]) {
      it(`refuses ${name} over ${transports[0]} with 'Authentication failed'`, async () => {
        const opts = { transports };
        if (auth !== undefined) opts.auth = auth;
        const err = await expectConnectError(gw.url, opts);
        assert.equal(err.message, 'Authentication failed');
        assert.equal(err.data?.reason, reason);
      });
    }
  }

  it('polling: a refused CONNECT is answered on the next GET (CONNECT_ERROR, then close)',
    async () => {
      const session = await rawPolling(gw.url).open();
      // No GET is pending while the CONNECT is handled.
      const posted = await session.post('40{"token":"bad"}');
      assert.equal(posted.status, 200);
      const next = await session.get();
      assert.equal(next.status, 200, `GET after a refused CONNECT: ${next.status} ${next.text}`);
      const packets = next.text.split('\x1e');
      assert.equal(packets[0], '44{"data":{"reason":"malformed"},"message":"Authentication failed"}');
    });

  it('counts refused connects in nilecare_realtime_connects_total{result="auth_failed"}', async () => {
    const before = await metric('nilecare_realtime_connects_total', { result: 'auth_failed' });
    await expectConnectError(gw.url, { transports: ['websocket'], auth: { token: 'x.y.z' } });
    await waitFor(async () => (await metric('nilecare_realtime_connects_total', { result: 'auth_failed' })) === before + 1,
      { message: 'auth_failed counter' });
  });

  it('accepts a valid token and joins user:{sub} and role:{role}', async () => {
    const a = await client('u-conn-1', 'doctor');
    const b = await client('u-conn-2', 'nurse');
    try {
      assert.equal(a.connected, true);
      assert.equal(typeof a.id, 'string');
      const aNotes = record(a, 'role:note');
      const bNotes = record(b, 'role:note');
      const aUser = record(a, 'user:note');

      let res = await emit({ room: 'user:u-conn-1', event: 'user:note', data: { hello: 1 } });
      assert.equal(res.status, 202, res.text);
      assert.equal(res.body.data.local_recipients, 1);
      await waitFor(() => aUser.length === 1, { message: 'user room event' });
      assert.deepEqual(aUser[0][0], { hello: 1 });

      res = await emit({ room: 'role:doctor', event: 'role:note', data: { to: 'doctors' } });
      assert.equal(res.status, 202);
      res = await emit({ room: 'role:nurse', event: 'role:note', data: { to: 'nurses' } });
      assert.equal(res.status, 202);
      await waitFor(() => aNotes.length >= 1 && bNotes.length >= 1, { message: 'role room events' });
      await sentinel(a, 'u-conn-1');
      await sentinel(b, 'u-conn-2');
      assert.deepEqual(aNotes.map((args) => args[0]), [{ to: 'doctors' }]);
      assert.deepEqual(bNotes.map((args) => args[0]), [{ to: 'nurses' }]);
    } finally {
      release(a, b);
    }
  });

  it('joins role:{r} for every entry of a roles array claim', async () => {
    const socket = await connectClient(gw.url, {
      transports: ['websocket'], auth: { token: mintToken({ sub: 'u-multi', roles: ['nurse', 'auditor'] }) },
    });
    sockets.add(socket);
    try {
      const seen = record(socket, 'role:note');
      for (const room of ['role:nurse', 'role:auditor']) {
        const res = await emit({ room, event: 'role:note', data: { room } });
        assert.equal(res.status, 202);
      }
      await sentinel(socket, 'u-multi');
      assert.deepEqual(seen.map((args) => args[0].room), ['role:nurse', 'role:auditor']);
      // A nurse in the roles array may subscribe to patients.
      assert.deepEqual(await subscribe(socket, 'P-multi'), { success: true, room: 'patient:P-multi' });
    } finally {
      release(socket);
    }
  });

  it('refuses a namespace other than "/" with connect_error "Invalid namespace"', async () => {
    const err = await expectConnectError(`${gw.url}/admin`, {
      transports: ['websocket'], auth: { token: token('u-nsp') },
    });
    assert.equal(err.message, 'Invalid namespace');
  });

  it('closes an Engine.IO session that never sends CONNECT (connect_timeout)', async () => {
    const before = await metric('nilecare_realtime_disconnects_total', { reason: 'connect_timeout' });
    const raw = await openRawWebSocket(gw.url);
    await withTimeout(raw.closed, 20_000, 'close at connect_timeout');
    await waitFor(async () => (await metric('nilecare_realtime_disconnects_total', { reason: 'connect_timeout' })) === before + 1,
      { message: 'connect_timeout counter' });
  });

  it('closes a connection that does not answer pings (ping_interval + ping_timeout)', async () => {
    const before = await metric('nilecare_realtime_disconnects_total', { reason: 'ping_timeout' });
    const raw = await openRawWebSocket(gw.url, { token: token('u-nopong'), pong: false });
    await withTimeout(raw.closed, 20_000, 'close at ping timeout');
    assert.ok(raw.messages.includes('2'), 'the server pinged first');
    await waitFor(async () => (await metric('nilecare_realtime_disconnects_total', { reason: 'ping_timeout' })) === before + 1,
      { message: 'ping_timeout counter' });
  });

  it('disconnects a socket when its token expires', async () => {
    const before = await metric('nilecare_realtime_disconnects_total', { reason: 'token_expired' });
    const exp = Math.floor(Date.now() / 1000) + 2;
    const socket = await connectClient(gw.url, {
      transports: ['websocket'], auth: { token: mintToken({ sub: 'u-exp', role: 'doctor', exp }) },
    });
    sockets.add(socket);
    try {
      const [reason] = await withTimeout(new Promise((resolve) => socket.once('disconnect', (...a) => resolve(a))),
        8_000, 'disconnect at token expiry');
      assert.equal(reason, 'transport close');
      await waitFor(async () => (await metric('nilecare_realtime_disconnects_total', { reason: 'token_expired' })) === before + 1,
        { message: 'token_expired counter' });
    } finally {
      release(socket);
    }
  });
});

// ---- patient rooms ---------------------------------------------------------------------------

describe('subscribe:patient / unsubscribe:patient', () => {
  it('joins patient:{id} given a string id and delivers vitals:update with a recovery offset', async () => {
    const socket = await client('u-sub-1', 'doctor');
    try {
      const calls = careTeam.calls.length;
      assert.deepEqual(await subscribe(socket, 'P1'), { success: true, room: 'patient:P1' });
      const call = careTeam.calls.slice(calls).find((c) => c.patientId === 'P1');
      assert.deepEqual(call, { userId: 'u-sub-1', patientId: 'P1', path: '/care-team/check' });

      const seen = record(socket, 'vitals:update');
      const res = await emit({ room: 'patient:P1', event: 'vitals:update', data: vitals('P1') });
      assert.equal(res.status, 202, res.text);
      assert.equal(res.body.success, true);
      assert.equal(res.body.data.local_recipients, 1);
      await waitFor(() => seen.length === 1, { message: 'vitals:update' });
      const [data, offset] = seen[0];
      assert.deepEqual(data, vitals('P1'));
      assert.equal(typeof offset, 'string', 'room broadcasts carry the recovery offset');
      assert.ok(offset.length > 0);
    } finally {
      release(socket);
    }
  });

  it('joins given { patientId } and answers a repeated subscribe with success', async () => {
    const socket = await client('u-sub-2', 'nurse');
    try {
      assert.deepEqual(await subscribe(socket, { patientId: 'P2' }), { success: true, room: 'patient:P2' });
      assert.deepEqual(await subscribe(socket, { patientId: 'P2' }), { success: true, room: 'patient:P2' });
    } finally {
      release(socket);
    }
  });

  const denied = [
    ['a role outside patient_access.roles', 'u-sub-role', 'receptionist', 'P3', 'Not authorized for this patient'],
    ['a care-team 403', 'u-sub-403', 'doctor', 'P-deny403-a', 'Not authorized for this patient'],
    ['a care-team 404', 'u-sub-404', 'doctor', 'P-deny404-a', 'Not authorized for this patient'],
    ['a care-team 500', 'u-sub-500', 'doctor', 'P-err500-a', 'Authorization service unavailable'],
    ['a care-team that never answers', 'u-sub-hang', 'doctor', 'P-hang-a', 'Authorization service unavailable'],
    ['a care-team connection reset', 'u-sub-drop', 'doctor', 'P-drop-a', 'Authorization service unavailable'],
    ['an invalid patient id', 'u-sub-bad', 'doctor', 'bad id!', 'Invalid patient id'],
    ['an object without patientId', 'u-sub-obj', 'doctor', { id: 'P4' }, 'Invalid patient id'],
  ];
  for (const [name, user, role, patient, error] of denied) {
    it(`denies ${name}, and the room's broadcasts do not reach the socket`, async () => {
      const socket = await client(user, role);
      try {
        const answer = await subscribe(socket, patient);
        assert.deepEqual(answer, { success: false, error });
        if (typeof patient === 'string' && /^[\w-]+$/.test(patient)) {
          const seen = record(socket, 'vitals:update');
          const res = await emit({ room: `patient:${patient}`, event: 'vitals:update', data: vitals(patient) });
          assert.equal(res.status, 202);
          assert.equal(res.body.data.local_recipients, 0);
          await sentinel(socket, user);
          assert.equal(seen.length, 0);
        }
      } finally {
        release(socket);
      }
    });
  }

  it('does not ask the care team about a role that is not allowed', async () => {
    const socket = await client('u-sub-noct', 'admin');
    try {
      const calls = careTeam.calls.length;
      assert.equal((await subscribe(socket, 'P5')).success, false);
      assert.equal(careTeam.calls.slice(calls).filter((c) => c.userId === 'u-sub-noct').length, 0);
    } finally {
      release(socket);
    }
  });

  it('leaves the room on unsubscribe:patient', async () => {
    const socket = await client('u-unsub', 'doctor');
    try {
      assert.deepEqual(await subscribe(socket, 'P6'), { success: true, room: 'patient:P6' });
      assert.deepEqual(await ack(socket, 'unsubscribe:patient', 'P6'), { success: true, room: 'patient:P6' });
      const seen = record(socket, 'vitals:update');
      const res = await emit({ room: 'patient:P6', event: 'vitals:update', data: vitals('P6') });
      assert.equal(res.body.data.local_recipients, 0);
      await sentinel(socket, 'u-unsub');
      assert.equal(seen.length, 0);
      // Unsubscribing from a room it is not in is still a success; a bad id is not.
      assert.deepEqual(await ack(socket, 'unsubscribe:patient', { patientId: 'P7' }), { success: true, room: 'patient:P7' });
      assert.deepEqual(await ack(socket, 'unsubscribe:patient', 'no spaces'), { success: false, error: 'Invalid patient id' });
    } finally {
      release(socket);
    }
  });

  it('delivers a broadcast to several rooms once to a socket in more than one of them', async () => {
    const socket = await client('u-rooms', 'doctor');
    try {
      await subscribe(socket, 'P8');
      await subscribe(socket, 'P9');
      const seen = record(socket, 'ward:update');
      const res = await emit({ rooms: ['patient:P8', 'patient:P9'], event: 'ward:update', data: { n: 1 } });
      assert.equal(res.status, 202, res.text);
      assert.equal(res.body.data.local_recipients, 1);
      await sentinel(socket, 'u-rooms');
      assert.deepEqual(seen.map((args) => args[0]), [{ n: 1 }]);
    } finally {
      release(socket);
    }
  });
});

// ---- chat ------------------------------------------------------------------------------------

describe('chat:message', () => {
  it('reaches the other members of the room, not the sender nor non-members', async () => {
    const a = await client('u-chat-a', 'doctor');
    const b = await client('u-chat-b', 'nurse');
    const c = await client('u-chat-c', 'doctor');
    try {
      assert.equal((await subscribe(a, 'P-chat')).success, true);
      assert.equal((await subscribe(b, 'P-chat')).success, true);
      const seenA = record(a, 'chat:message');
      const seenB = record(b, 'chat:message');
      const seenC = record(c, 'chat:message');

      const answer = await ack(a, 'chat:message', { room: 'patient:P-chat', message: 'BP rising, please check' });
      assert.equal(answer.success, true);
      assert.equal(typeof answer.id, 'string');
      assert.ok(!Number.isNaN(Date.parse(answer.timestamp)), `timestamp ${answer.timestamp}`);

      await waitFor(() => seenB.length === 1, { message: 'chat at b' });
      const [data, offset] = seenB[0];
      assert.deepEqual(data, {
        id: answer.id,
        room: 'patient:P-chat',
        message: 'BP rising, please check',
        sender: { id: 'u-chat-a', role: 'doctor' },
        timestamp: answer.timestamp,
      });
      assert.equal(typeof offset, 'string');

      await sentinel(a, 'u-chat-a');
      await sentinel(c, 'u-chat-c');
      assert.equal(seenA.length, 0, 'the sender does not get its own message');
      assert.equal(seenC.length, 0, 'a non-member does not get the message');
    } finally {
      release(a, b, c);
    }
  });

  it('refuses a room the sender is not in, and malformed bodies', async () => {
    const a = await client('u-chat-d', 'doctor');
    const b = await client('u-chat-e', 'doctor');
    try {
      assert.equal((await subscribe(b, 'P-chat2')).success, true);
      const seenB = record(b, 'chat:message');
      assert.deepEqual(await ack(a, 'chat:message', { room: 'patient:P-chat2', message: 'hi' }),
        { success: false, error: 'Not a member of this room' });
      assert.deepEqual(await ack(a, 'chat:message', { room: 'user:u-chat-e', message: 'hi' }),
        { success: false, error: 'Not a member of this room' });
      const malformed = { success: false, error: 'Expected { room, message } with a message of 1-4096 characters' };
      assert.deepEqual(await ack(a, 'chat:message', { room: 'user:u-chat-d' }), malformed);
      assert.deepEqual(await ack(a, 'chat:message', { room: 'user:u-chat-d', message: '' }), malformed);
      assert.deepEqual(await ack(a, 'chat:message', { room: 'user:u-chat-d', message: 'x'.repeat(4097) }), malformed);
      assert.deepEqual(await ack(a, 'chat:message', 'just a string'), malformed);
      await sentinel(b, 'u-chat-e');
      assert.equal(seenB.length, 0);
    } finally {
      release(a, b);
    }
  });
});

describe('unknown events', () => {
  it("answers an unknown event's ack with 'Unknown event' and keeps the connection", async () => {
    const socket = await client('u-unknown', 'doctor');
    try {
      socket.emit('no:such:event', { a: 1 });  // without an ack: nothing comes back
      assert.deepEqual(await ack(socket, 'no:such:event', { a: 1 }), { success: false, error: 'Unknown event' });
      assert.equal(socket.connected, true);
      assert.equal((await subscribe(socket, 'P-unknown')).success, true);
    } finally {
      release(socket);
    }
  });
});

// ---- internal API ----------------------------------------------------------------------------

describe('POST /internal/notifications', () => {
  it("sends notification:new to the user's sockets only, with id and timestamp", async () => {
    const a1 = await client('u-note-1', 'doctor');
    const a2 = await client('u-note-1', 'doctor', { transports: ['polling'] });
    const b = await client('u-note-2', 'nurse');
    try {
      const seen1 = record(a1, 'notification:new');
      const seen2 = record(a2, 'notification:new');
      const seenB = record(b, 'notification:new');
      const body = { user_id: 'u-note-1', type: 'lab_result', message: 'Potassium 6.1', priority: 'high' };
      const res = await notify(body);
      assert.equal(res.status, 202, res.text);
      assert.equal(res.body.success, true);
      assert.equal(res.body.data.event, 'notification:new');
      assert.equal(res.body.data.room, 'user:u-note-1');
      assert.equal(res.body.data.local_recipients, 2);
      const id = res.body.data.id;
      assert.equal(typeof id, 'string');

      await waitFor(() => seen1.length === 1 && seen2.length === 1, { message: 'notification at both sockets' });
      for (const [data, offset] of [seen1[0], seen2[0]]) {
        assert.equal(data.id, id);
        assert.ok(!Number.isNaN(Date.parse(data.timestamp)));
        assert.deepEqual({ ...data, id: undefined, timestamp: undefined }, { ...body, id: undefined, timestamp: undefined });
        assert.equal(typeof offset, 'string');
      }
      await sentinel(b, 'u-note-2');
      assert.equal(seenB.length, 0);

      // Caller-supplied id and timestamp are kept.
      const res2 = await notify({ user_id: 'u-note-2', id: 'n-42', timestamp: '2024-01-01T00:00:00Z', message: 'x' });
      assert.equal(res2.status, 202);
      assert.equal(res2.body.data.id, 'n-42');
      await waitFor(() => seenB.length === 1, { message: 'notification at b' });
      assert.equal(seenB[0][0].id, 'n-42');
      assert.equal(seenB[0][0].timestamp, '2024-01-01T00:00:00Z');
    } finally {
      release(a1, a2, b);
    }
  });

  const bad = [
    ['no user_id', { message: 'x' }],
    ['an empty user_id', { user_id: '' }],
    ['a user_id object', { user_id: { a: 1 } }],
    ['a JSON array', [1, 2]],
    ['invalid JSON', '{"user_id":'],
    ['nesting deeper than 32', `{"user_id":"u","x":${'['.repeat(40)}${']'.repeat(40)}}`],
  ];
  for (const [name, body] of bad) {
    it(`answers 400 BAD_REQUEST for ${name}`, async () => {
      const res = await notify(body);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.success, false);
      assert.equal(res.body.error.code, 'BAD_REQUEST');
    });
  }
});

describe('POST /internal/emit', () => {
  const bad = [
    ['no room', { event: 'x:y', data: {} }],
    ['no event', { room: 'user:u1', data: {} }],
    ['a reserved event name', { room: 'user:u1', event: 'connect' }],
    ['an event name with spaces', { room: 'user:u1', event: 'a b' }],
    ['a non-string room in rooms', { rooms: ['user:u1', 7], event: 'x:y' }],
    ['more than 64 rooms', { rooms: Array.from({ length: 65 }, (_, i) => `user:u${i}`), event: 'x:y' }],
    ['an empty room name', { room: '', event: 'x:y' }],
    ['not an object', '"text"'],
  ];
  for (const [name, body] of bad) {
    it(`answers 400 BAD_REQUEST for ${name}`, async () => {
      const res = await emit(body);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.success, false);
      assert.equal(res.body.error.code, 'BAD_REQUEST');
    });
  }

  it('with internal_token: 401 without or with a wrong token, 202 with the right one', async () => {
    const socket = await client('u-token', 'doctor', {}, gwSmall);
    try {
      const seen = record(socket, 'x:y');
      const body = { room: 'user:u-token', event: 'x:y', data: { n: 1 } };
      const before = await metric('nilecare_realtime_internal_rejected_total', undefined, gwSmall);
      let res = await emit(body, gwSmall);
      assert.equal(res.status, 401, res.text);
      assert.equal(res.body.success, false);
      assert.equal(res.body.error.code, 'UNAUTHORIZED');
      res = await emit(body, gwSmall, { authorization: `Bearer ${INTERNAL_TOKEN}x` });
      assert.equal(res.status, 401);
      res = await emit(body, gwSmall, { authorization: `Bearer ${INTERNAL_TOKEN.slice(0, -1)}X` });
      assert.equal(res.status, 401);
      res = await notify({ user_id: 'u-token' }, gwSmall, { authorization: 'Basic abc' });
      assert.equal(res.status, 401);
      assert.equal(await metric('nilecare_realtime_internal_rejected_total', undefined, gwSmall), before + 4);

      res = await emit({ ...body, data: { n: 2 } }, gwSmall, { authorization: `Bearer ${INTERNAL_TOKEN}` });
      assert.equal(res.status, 202, res.text);
      assert.equal(res.body.data.local_recipients, 1);
      await waitFor(() => seen.length >= 1, { message: 'authorised emit' });
      await sentinel(socket, 'u-token', gwSmall);
      assert.deepEqual(seen.map((args) => args[0]), [{ n: 2 }], 'only the authorised emit was delivered');
      res = await notify({ user_id: 'u-token' }, gwSmall, { authorization: `Bearer ${INTERNAL_TOKEN}` });
      assert.equal(res.status, 202);
    } finally {
      release(socket);
    }
  });
});

// ---- alert:critical --------------------------------------------------------------------------

describe('alert:critical', () => {
  const alertMetric = async (event) => metric('nilecare_realtime_alerts_total', { event });
  const alertMetrics = async () => {
    const m = await metrics();
    const pick = (event) => metricValue(m, 'nilecare_realtime_alerts_total', { event });
    return { sent: pick('sent'), acknowledged: pick('acknowledged'), escalated: pick('escalated'),
      unacknowledged: pick('unacknowledged'), ackCount: metricValue(m, 'nilecare_realtime_alert_ack_seconds_count') };
  };
  const alertBody = (patient) => ({ room: `patient:${patient}`, event: 'alert:critical',
    data: { patient_id: patient, alert_type: 'hr_high', severity: 'critical' } });

  it('is sent with an ack request; acknowledging it stops the re-sends', async () => {
    const acker = await client('u-alert-ack', 'doctor');
    const silent = await client('u-alert-silent', 'doctor');
    try {
      assert.equal((await subscribe(acker, 'P-alert-1')).success, true);
      assert.equal((await subscribe(silent, 'P-alert-2')).success, true);
      const before = await alertMetrics();
      const ackerAlerts = [];
      acker.on('alert:critical', (data, ackFn) => {
        ackerAlerts.push({ data, ackFn });
        if (typeof ackFn === 'function') ackFn({ acknowledged: true });
      });

      const res = await emit(alertBody('P-alert-1'));
      assert.equal(res.status, 202, res.text);
      const alertId = res.body.data.alert_id;
      assert.equal(typeof alertId, 'string');
      await waitFor(() => ackerAlerts.length === 1, { message: 'alert delivered' });
      assert.equal(typeof ackerAlerts[0].ackFn, 'function', 'the handler gets an ack callback');
      assert.deepEqual(ackerAlerts[0].data, { patient_id: 'P-alert-1', alert_type: 'hr_high', severity: 'critical', alert_id: alertId });
      await waitFor(async () => (await alertMetric('acknowledged')) === before.acknowledged + 1,
        { message: 'acknowledged counter' });
      const afterAck = await alertMetrics();
      assert.equal(afterAck.sent, before.sent + 1);
      assert.equal(afterAck.escalated, before.escalated);
      assert.equal(afterAck.ackCount, before.ackCount + 1);

      // Sentinel for "no re-send": a later alert (same ack timeout) that nobody answers.
      // Once it has been re-sent, the first one's timer would have fired too.
      const silentAlerts = [];
      silent.on('alert:critical', (data) => silentAlerts.push(data));
      const res2 = await emit(alertBody('P-alert-2'));
      assert.equal(res2.status, 202);
      await waitFor(() => silentAlerts.length >= 2, { timeout: 20_000, message: 'second alert re-sent' });
      await sentinel(acker, 'u-alert-ack');
      assert.equal(ackerAlerts.length, 1, 'an acknowledged alert is not re-sent');
      // Let the unanswered one run its course so later tests see settled counters.
      await waitFor(async () => (await alertMetric('unacknowledged')) === before.unacknowledged + 1,
        { timeout: 20_000, message: 'second alert given up' });
    } finally {
      release(acker, silent);
    }
  });

  it('is re-sent (same alert_id) alert_max_resends times, then counted unacknowledged', async () => {
    const socket = await client('u-alert-none', 'nurse');
    try {
      assert.equal((await subscribe(socket, 'P-alert-3')).success, true);
      const before = await alertMetrics();
      const seen = [];
      socket.on('alert:critical', (data, ackFn) => seen.push({ data, ackFn }));
      const res = await emit(alertBody('P-alert-3'));
      assert.equal(res.status, 202);
      const alertId = res.body.data.alert_id;

      await waitFor(async () => (await alertMetric('unacknowledged')) === before.unacknowledged + 1,
        { timeout: 20_000, message: 'unacknowledged counter' });
      await waitFor(() => seen.length === 3, { message: 'three deliveries' });
      await sentinel(socket, 'u-alert-none');
      assert.equal(seen.length, 3, 'initial send + 2 re-sends, no more');
      for (const { data, ackFn } of seen) {
        assert.equal(data.alert_id, alertId);
        assert.equal(typeof ackFn, 'function');
      }
      const afterAll = await alertMetrics();
      assert.equal(afterAll.sent, before.sent + 1);
      assert.equal(afterAll.escalated, before.escalated + 2);
      assert.equal(afterAll.acknowledged, before.acknowledged);
    } finally {
      release(socket);
    }
  });

  it('counts an ack of a re-sent alert, once, even with two recipients', async () => {
    const a = await client('u-alert-late-a', 'doctor');
    const b = await client('u-alert-late-b', 'doctor', { transports: ['polling'] });
    try {
      assert.equal((await subscribe(a, 'P-alert-4')).success, true);
      assert.equal((await subscribe(b, 'P-alert-4')).success, true);
      const before = await alertMetrics();
      const seenA = [];
      const seenB = [];
      a.on('alert:critical', (data, ackFn) => {
        seenA.push(data);
        if (seenA.length === 2) ackFn({ ok: true });  // answers the first re-send
      });
      b.on('alert:critical', (data, ackFn) => {
        seenB.push(data);
        if (seenB.length === 2) ackFn({ ok: true });
      });
      const res = await emit(alertBody('P-alert-4'));
      assert.equal(res.status, 202);
      await waitFor(async () => (await alertMetric('acknowledged')) === before.acknowledged + 1,
        { timeout: 20_000, message: 'acknowledged counter' });
      await waitFor(() => seenA.length === 2 && seenB.length === 2, { message: 'both re-sends' });
      // Both answered; the second answer is for an alert already closed and is not counted.
      await sentinel(a, 'u-alert-late-a');
      await sentinel(b, 'u-alert-late-b');
      const afterAll = await alertMetrics();
      assert.equal(afterAll.acknowledged, before.acknowledged + 1);
      assert.equal(afterAll.escalated, before.escalated + 1);
      assert.equal(afterAll.unacknowledged, before.unacknowledged);
    } finally {
      release(a, b);
    }
  });
});

// ---- transports ------------------------------------------------------------------------------

async function exercise(socket, user, patient) {
  assert.deepEqual(await subscribe(socket, patient), { success: true, room: `patient:${patient}` });
  const seen = record(socket, 'vitals:update');
  const res = await emit({ room: `patient:${patient}`, event: 'vitals:update', data: vitals(patient) });
  assert.equal(res.body.data.local_recipients, 1);
  await waitFor(() => seen.length === 1, { message: `vitals over ${socket.io.engine.transport.name}` });
  assert.deepEqual(seen[0][0], vitals(patient));
  assert.deepEqual(await ack(socket, 'no:such', 1), { success: false, error: 'Unknown event' });
  const notes = record(socket, 'notification:new');
  assert.equal((await notify({ user_id: user, message: 'hello' })).status, 202);
  await waitFor(() => notes.length === 1, { message: 'notification' });
  socket.off('vitals:update');
  socket.off('notification:new');
}

describe('transports', () => {
  it("['websocket'] only", async () => {
    const socket = await client('u-tr-ws', 'doctor', { transports: ['websocket'] });
    try {
      assert.equal(socket.io.engine.transport.name, 'websocket');
      await exercise(socket, 'u-tr-ws', 'P-tr-ws');
      assert.equal(socket.io.engine.transport.name, 'websocket');
    } finally {
      release(socket);
    }
  });

  it("['polling'] only, across several heartbeats", async () => {
    const socket = await client('u-tr-poll', 'doctor', { transports: ['polling'] });
    try {
      assert.equal(socket.io.engine.transport.name, 'polling');
      await exercise(socket, 'u-tr-poll', 'P-tr-poll');
      // Survives heartbeats (ping_interval 1s): count pings the engine answered.
      let pings = 0;
      socket.io.engine.on('ping', () => { pings += 1; });
      await waitFor(() => pings >= 3, { timeout: 20_000, message: 'three heartbeats over polling' });
      assert.equal(socket.connected, true);
      await exercise(socket, 'u-tr-poll', 'P-tr-poll2');
      assert.equal(socket.io.engine.transport.name, 'polling');
    } finally {
      release(socket);
    }
  });

  it("['polling', 'websocket'] upgrades, with events and acks before and after", async () => {
    // The WebSocket probe is held back until the polling phase has been exercised, so
    // "before the upgrade" is not a race. The class keeps the name 'websocket'.
    let openGate;
    const gate = new Promise((resolve) => { openGate = resolve; });
    class GatedWebSocket extends NodeWebSocket {
      doOpen() { gate.then(() => super.doOpen()); }
    }
    const socket = await connectClient(gw.url, {
      transports: [NodeXHR, GatedWebSocket], auth: { token: token('u-tr-up') },
    });
    sockets.add(socket);
    try {
      const engine = socket.io.engine;
      assert.equal(engine.transport.name, 'polling');
      const upgraded = withTimeout(new Promise((resolve) => engine.once('upgrade', resolve)), 8_000, 'upgrade');
      await exercise(socket, 'u-tr-up', 'P-tr-up1');
      assert.equal(engine.transport.name, 'polling', 'still polling before the gate opens');
      const before = await metric('nilecare_realtime_upgrades_total', { result: 'ok' });
      openGate();
      const transport = await upgraded;
      assert.equal(transport.name, 'websocket');
      assert.equal(engine.transport.name, 'websocket');
      await exercise(socket, 'u-tr-up', 'P-tr-up2');
      // Rooms joined over polling are kept after the upgrade.
      const seen = record(socket, 'vitals:update');
      await emit({ room: 'patient:P-tr-up1', event: 'vitals:update', data: vitals('P-tr-up1', { n: 2 }) });
      await waitFor(() => seen.length === 1, { message: 'vitals for the pre-upgrade room' });
      assert.equal(await metric('nilecare_realtime_upgrades_total', { result: 'ok' }), before + 1);
    } finally {
      release(socket);
    }
  });

  it('default transports (polling first) upgrade to websocket', async () => {
    const socket = await client('u-tr-default', 'doctor', { transports: ['polling', 'websocket'] });
    try {
      const engine = socket.io.engine;
      if (engine.transport.name !== 'websocket') {
        await withTimeout(new Promise((resolve) => engine.once('upgrade', resolve)), 8_000, 'upgrade');
      }
      assert.equal(engine.transport.name, 'websocket');
      await exercise(socket, 'u-tr-default', 'P-tr-default');
    } finally {
      release(socket);
    }
  });
});

// ---- the spec's frontend client ------------------------------------------------------------------

// From ../shared/spec/service-communication-patterns.md, "WebSocket Client (Frontend)":
// TypeScript types removed, otherwise unchanged.
class WebSocketClient {
  socket = null;

  connect(token) {
    this.socket = io(process.env.VITE_WS_URL || 'http://localhost:7000', {
      auth: { token },
      transports: ['websocket', 'polling'],
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      reconnectionAttempts: 5,
    });

    this.socket.on('connect', () => {
      console.log('WebSocket connected');
    });

    this.socket.on('disconnect', (reason) => {
      console.warn('WebSocket disconnected:', reason);
    });

    this.socket.on('connect_error', (error) => {
      console.error('Connection error:', error);
    });
  }

  subscribeToPatient(patientId) {
    this.socket?.emit('subscribe:patient', patientId);
  }

  unsubscribeFromPatient(patientId) {
    this.socket?.emit('unsubscribe:patient', patientId);
  }

  onVitalsUpdate(callback) {
    this.socket?.on('vitals:update', callback);
  }

  onNewNotification(callback) {
    this.socket?.on('notification:new', callback);
  }

  disconnect() {
    this.socket?.disconnect();
    this.socket = null;
  }
}

describe("the spec's frontend WebSocketClient", () => {
  it('connects, subscribes, gets vitals and notifications, unsubscribes, disconnects', async () => {
    const saved = process.env.VITE_WS_URL;
    process.env.VITE_WS_URL = gw.url;
    const wsClient = new WebSocketClient();
    let socket;
    try {
      wsClient.connect(token('u-spec', 'doctor'));
      socket = wsClient.socket;
      sockets.add(socket);
      await waitFor(() => socket.connected, { message: 'spec client connected' });
      assert.equal(socket.io.engine.transport.name, 'websocket');

      const vitalsSeen = [];
      const notesSeen = [];
      wsClient.onVitalsUpdate((v) => vitalsSeen.push(v));
      wsClient.onNewNotification((n) => notesSeen.push(n));

      // subscribeToPatient sends no ack: the join is seen in the server's metrics.
      const joins = await metric('nilecare_realtime_patient_joins_total', { result: 'allowed' });
      wsClient.subscribeToPatient('P-spec');
      await waitFor(async () => (await metric('nilecare_realtime_patient_joins_total', { result: 'allowed' })) >= joins + 1,
        { message: 'patient join' });
      const res = await emit({ room: 'patient:P-spec', event: 'vitals:update', data: vitals('P-spec') });
      assert.equal(res.body.data.local_recipients, 1);
      await waitFor(() => vitalsSeen.length === 1, { message: 'onVitalsUpdate' });
      assert.deepEqual(vitalsSeen[0], vitals('P-spec'));

      const note = { user_id: 'u-spec', type: 'appointment', message: 'Ward round at 10', priority: 'normal' };
      assert.equal((await notify(note)).status, 202);
      await waitFor(() => notesSeen.length === 1, { message: 'onNewNotification' });
      assert.equal(notesSeen[0].message, 'Ward round at 10');
      assert.equal(typeof notesSeen[0].id, 'string');

      // The server handles one connection's packets in order: once a later ack arrives,
      // the unsubscribe has been applied.
      wsClient.unsubscribeFromPatient('P-spec');
      await ack(socket, 'no:such', 0);
      const res2 = await emit({ room: 'patient:P-spec', event: 'vitals:update', data: vitals('P-spec', { hr: 90 }) });
      assert.equal(res2.body.data.local_recipients, 0);
      await sentinel(socket, 'u-spec');
      assert.equal(vitalsSeen.length, 1);

      const disconnects = await metric('nilecare_realtime_disconnects_total', { reason: 'client_disconnect' });
      const reason = new Promise((resolve) => socket.once('disconnect', resolve));
      wsClient.disconnect();
      assert.equal(wsClient.socket, null);
      assert.equal(await withTimeout(reason, kEventMs, 'disconnect'), 'io client disconnect');
      await waitFor(async () => (await metric('nilecare_realtime_disconnects_total', { reason: 'client_disconnect' })) === disconnects + 1,
        { message: 'server saw the disconnect' });
    } finally {
      if (saved === undefined) delete process.env.VITE_WS_URL;
      else process.env.VITE_WS_URL = saved;
      if (socket) release(socket);
    }
  });
});

// ---- malformed input -------------------------------------------------------------------------

describe('malformed input closes the connection, the gateway stays up', () => {
  const rejected = async (target, reason) => metric('nilecare_realtime_rejected_total', { reason }, target);

  const wsCases = [
    // [name, send, rejected_total reason, gateway (a thunk: gateways start in before())]
    ['a garbage text frame', (ws) => ws.send('hello there'), 'parse', () => gw],
    ['an unknown Engine.IO packet type', (ws) => ws.send('9'), 'parse', () => gw],
    ['an unknown Socket.IO packet type', (ws) => ws.send('47["x"]'), 'parse', () => gw],
    ['a client-sent Engine.IO open packet', (ws) => ws.send('0{}'), 'parse', () => gw],
    ['a binary frame', (ws) => ws.send(Buffer.from([0x34, 0x32, 0x00, 0xff])), 'binary', () => gw],
    ['a Socket.IO binary event', (ws) => ws.send('451-["x",{"_placeholder":true,"num":0}]'), 'binary', () => gw],
    ['invalid JSON', (ws) => ws.send('42['), 'parse', () => gw],
    ['an event that is not an array', (ws) => ws.send('42{"a":1}'), 'parse', () => gw],
    ['deep nesting', (ws) => ws.send(`42${'['.repeat(100000)}`), 'parse', () => gw],
    ['a frame larger than max_payload', (ws) => ws.send(`42["x","${'a'.repeat(5000)}"]`), 'parse', () => gwSmall],
  ];
  for (const [name, send, reason, which] of wsCases) {
    it(`WebSocket: ${name}`, async () => {
      const target = which();
      const before = await rejected(target, reason);
      const raw = await openRawWebSocket(target.url, { token: token('u-raw') });
      send(raw.ws);
      const closed = await withTimeout(raw.closed, kEventMs, 'server closes the WebSocket');
      assert.ok([1000, 1001, 1009].includes(closed.code), `close code ${closed.code} is a close frame`);
      if (name === 'a Socket.IO binary event') {
        assert.ok(raw.messages.includes('41'), 'a Socket.IO DISCONNECT precedes the close');
      }
      await waitFor(async () => (await rejected(target, reason)) === before + 1,
        { message: `rejected_total{reason="${reason}"}` });
      await assertHealthy(target);
      // A fresh client still works.
      const socket = await client('u-raw-after', 'doctor', {}, target);
      assert.deepEqual(await ack(socket, 'no:such', 1), { success: false, error: 'Unknown event' });
      release(socket);
    });
  }

  it('WebSocket: garbage before CONNECT (no Socket.IO session yet)', async () => {
    const before = await rejected(gw, 'parse');
    const raw = await openRawWebSocket(gw.url);
    raw.ws.send('hello');
    await withTimeout(raw.closed, kEventMs, 'close');
    await waitFor(async () => (await rejected(gw, 'parse')) === before + 1, { message: 'rejected parse' });
    await assertHealthy();
  });

  it('polling: an Engine.IO-level garbage POST answers 400 and ends the session', async () => {
    const session = await rawPolling(gw.url).open(token('u-raw-poll'));
    const before = await rejected(gw, 'parse');
    const res = await session.post('hello there');
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, { code: 3, message: 'Bad request' });
    assert.equal(await rejected(gw, 'parse'), before + 1);
    const next = await session.get();
    assert.equal(next.status, 400);
    assert.deepEqual(next.json, { code: 1, message: 'Session ID unknown' });
    await assertHealthy();
  });

  it('polling: invalid Socket.IO JSON ends the session', async () => {
    const session = await rawPolling(gw.url).open(token('u-raw-poll1'));
    const before = await rejected(gw, 'parse');
    // A well-formed Engine.IO payload: the POST itself is taken, the Socket.IO packet is not.
    const res = await session.post('42[');
    assert.equal(res.status, 200);
    await waitFor(async () => (await rejected(gw, 'parse')) === before + 1, { message: 'rejected parse' });
    const next = await session.get();
    // Closed without a flush: either the session is gone or the poll gets the close packet.
    assert.ok((next.status === 400 && next.json?.code === 1) || (next.status === 200 && next.text.endsWith('1')),
      `after the close: ${next.status} ${next.text}`);
    await assertHealthy();
  });

  it('polling: a binary payload is refused', async () => {
    const session = await rawPolling(gw.url).open(token('u-raw-poll2'));
    const before = await rejected(gw, 'binary');
    const res = await session.post('bAQID');
    assert.equal(res.status, 400);
    assert.equal(await rejected(gw, 'binary'), before + 1);
    await assertHealthy();
  });

  it('polling: a Socket.IO binary event is refused with a DISCONNECT packet',
    async () => {
      const session = await rawPolling(gw.url).open(token('u-raw-poll4'));
      const before = await rejected(gw, 'binary');
      const res = await session.post('451-["x",{"_placeholder":true,"num":0}]');
      assert.equal(res.status, 200);
      assert.equal(await rejected(gw, 'binary'), before + 1);
      await assertHealthy();
      // Closed with a flush: the next GET gets "41" (DISCONNECT) and the close packet.
      const next = await session.get();
      assert.equal(next.status, 200, `GET after the refusal: ${next.status} ${next.text}`);
      assert.deepEqual(next.text.split('\x1e'), ['41', '1']);
    });

  it('polling: a POST larger than max_payload answers 400', async () => {
    const session = await rawPolling(gwSmall.url).open(token('u-raw-poll3'));
    const res = await session.post(`42["x","${'a'.repeat(5000)}"]`);
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, { code: 3, message: 'Bad request' });
    assert.equal((await session.get()).status, 400);
    await assertHealthy(gwSmall);
  });

  const pollingErrors = [
    ['an unknown sid', 'EIO=4&transport=polling&sid=nope', { code: 1, message: 'Session ID unknown' }],
    ['EIO=3', 'EIO=3&transport=polling', { code: 5, message: 'Unsupported protocol version' }],
    ['no EIO', 'transport=polling', { code: 5, message: 'Unsupported protocol version' }],
    ['an unknown transport', 'EIO=4&transport=carrier-pigeon', { code: 0, message: 'Transport unknown' }],
  ];
  for (const [name, query, body] of pollingErrors) {
    it(`polling: ${name} -> 400 ${JSON.stringify(body)}`, async () => {
      const before = await rejected(gw, 'transport_request');
      const res = await rawPolling(gw.url).request(`${gw.url}/socket.io/?${query}`);
      assert.equal(res.status, 400);
      assert.deepEqual(res.json, body);
      assert.equal(await rejected(gw, 'transport_request'), before + 1);
    });
  }

  it('polling: a handshake by POST -> 400 code 2', async () => {
    const res = await rawPolling(gw.url).request(`${gw.url}/socket.io/?EIO=4&transport=polling`, { method: 'POST', body: '40' });
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, { code: 2, message: 'Bad handshake method' });
  });

  it('WebSocket: an upgrade with an unknown sid is refused with 400', async () => {
    await assert.rejects(openRawWebSocket(gw.url, { query: 'EIO=4&transport=websocket&sid=nope' }),
      /upgrade refused: HTTP 400/);
    await assertHealthy();
  });
});

describe('session limit (realtime.max_sessions)', () => {
  it('refuses sessions beyond the limit on both transports, counted, and accepts again once one ends',
    async () => {
      const limited = await startGateway({ service: { name: 'rt-test-limit' }, realtime: { max_sessions: 2 } });
      const open = [];
      try {
        open.push(await connectClient(limited.url, { transports: ['websocket'], auth: { token: token('u-lim1') } }));
        open.push(await connectClient(limited.url, { transports: ['polling'], auth: { token: token('u-lim2') } }));
        const res = await rawPolling(limited.url).request(`${limited.url}/socket.io/?EIO=4&transport=polling`);
        assert.equal(res.status, 503);
        assert.equal(res.json?.error?.code, 'NOT_READY');
        await assert.rejects(openRawWebSocket(limited.url), /upgrade refused: HTTP 403/);
        const metrics = await scrapeMetrics(limited.url);
        assert.equal(metricValue(metrics, 'nilecare_realtime_rejected_total', { reason: 'max_sessions' }), 2);

        open.shift().close();
        await waitFor(async () => metricValue(await scrapeMetrics(limited.url), 'nilecare_realtime_sockets') === 1,
          { timeout: 10_000, message: 'first session gone' });
        open.push(await connectClient(limited.url, { transports: ['websocket'], auth: { token: token('u-lim3') } }));
      } finally {
        for (const socket of open) socket.close();
        await limited.stop();
      }
    });
});

describe('slow clients (bounded send queue)', () => {
  // A client that stops reading: once the kernel's socket buffers are full, packets wait in
  // the gateway's per-connection queue (16 packets / 64 KiB here).
  const slowConfig = {
    service: { name: 'rt-test-slow' },
    // The paused client answers no pings: heartbeats must not be what ends it.
    realtime: { ping_interval: '120s', ping_timeout: '60s', send_queue_packets: 16, send_queue_bytes: '64KiB' },
  };
  const pad = 'x'.repeat(4096);
  let slow;

  before(async () => { slow = await startGateway(slowConfig); });
  after(async () => { await slow?.stop(); });

  const value = async (name, labels) => metricValue(await scrapeMetrics(slow.url), name, labels);

  // Emits in bursts until `done()` says the gateway reacted; returns how many were sent.
  async function emitUntil(body, done) {
    let sent = 0;
    await waitFor(async () => {
      for (let i = 0; i < 100; i += 1) {
        sent += 1;
        const res = await postJson(`${slow.url}/internal/emit`, body(sent));
        assert.equal(res.status, 202);
      }
      return done();
    }, { timeout: 90_000, interval: 1, message: 'the gateway reacting to a full send queue' });
    return sent;
  }

  it('sheds the oldest vitals:update, keeps the alert and the newest reading, stays connected',
    async () => {
      const raw = await openRawWebSocket(slow.url, { token: token('u-slow') });
      try {
        raw.ws.send(`421${JSON.stringify(['subscribe:patient', 'P-slow'])}`);
        await raw.waitMessage((m) => m.startsWith('431['));
        const overflowBefore = await value('nilecare_realtime_disconnects_total', { reason: 'send_overflow' });
        raw.ws.pause();
        const sent = await emitUntil(
          (seq) => ({ room: 'patient:P-slow', event: 'vitals:update', data: { seq, pad } }),
          async () => (await value('nilecare_realtime_vitals_dropped_total')) > 0);
        const alert = await postJson(`${slow.url}/internal/emit`,
          { room: 'patient:P-slow', event: 'alert:critical', data: { patient_id: 'P-slow' } });
        assert.equal(alert.status, 202);
        const last = sent + 1;
        await postJson(`${slow.url}/internal/emit`,
          { room: 'patient:P-slow', event: 'vitals:update', data: { seq: last, pad } });
        raw.ws.resume();

        const alertFrame = await raw.waitMessage((m) => m.includes('"alert:critical"'), 30_000);
        assert.ok(alertFrame.includes(alert.body.data.alert_id), 'the alert itself arrived');
        const vitalsSeqs = () => raw.messages.filter((m) => m.startsWith('42["vitals:update"'))
          .map((m) => JSON.parse(m.slice(2))[1].seq);
        await waitFor(() => vitalsSeqs().includes(last), { timeout: 30_000, message: 'the newest reading' });
        const seqs = vitalsSeqs();
        assert.ok(seqs.length < last, `some vitals were shed (${seqs.length} of ${last} arrived)`);
        assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'what arrives stays in order');
        assert.equal(raw.isClosed(), false);
        assert.equal(await value('nilecare_realtime_disconnects_total', { reason: 'send_overflow' }), overflowBefore);
      } finally {
        raw.ws.terminate();
      }
    });

  // CI once saw a malformed packet answered with a reset (close code 1006): it arrived while
  // a frame was still being written, and the close cut the transport under that write.
  it('closes for bad input with a close frame even while a write is in flight', async () => {
    const raw = await openRawWebSocket(slow.url, { token: token('u-slow3') });
    try {
      raw.ws.send(`421${JSON.stringify(['subscribe:patient', 'P-slow3'])}`);
      await raw.waitMessage((m) => m.startsWith('431['));
      const parseBefore = await value('nilecare_realtime_disconnects_total', { reason: 'parse_error' });
      raw.ws.pause();
      // Vitals shed: the kernel's buffers are full and a frame is stuck mid-write.
      const droppedBefore = await value('nilecare_realtime_vitals_dropped_total');
      await emitUntil(
        (seq) => ({ room: 'patient:P-slow3', event: 'vitals:update', data: { seq, pad } }),
        async () => (await value('nilecare_realtime_vitals_dropped_total')) > droppedBefore);
      raw.ws.send('hello there');  // the gateway still reads while it cannot write
      await waitFor(async () => (await value('nilecare_realtime_disconnects_total', { reason: 'parse_error' })) === parseBefore + 1,
        { message: 'the gateway closed the session for the bad packet' });
      raw.ws.resume();
      const closed = await withTimeout(raw.closed, 30_000, 'the WebSocket closes');
      assert.ok([1000, 1001].includes(closed.code), `close code ${closed.code} is a close frame, not a reset`);
    } finally {
      raw.ws.terminate();
    }
  });

  it('disconnects a client that cannot take even non-droppable packets, counted', async () => {
    const raw = await openRawWebSocket(slow.url, { token: token('u-slow2') });
    try {
      const before = await value('nilecare_realtime_disconnects_total', { reason: 'send_overflow' });
      raw.ws.pause();
      await emitUntil(
        (n) => ({ room: 'user:u-slow2', event: 'notification:new', data: { n, pad } }),
        async () => (await value('nilecare_realtime_disconnects_total', { reason: 'send_overflow' })) === before + 1);
      await waitFor(async () => (await value('nilecare_realtime_sockets')) === 0,
        { timeout: 10_000, message: 'the slow socket is gone' });
      // The gateway is fine and a new client is served.
      const res = await fetch(`${slow.url}/health`);
      assert.equal(res.status, 200);
    } finally {
      raw.ws.terminate();
    }
  });
});
