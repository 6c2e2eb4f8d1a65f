// End-to-end tests of the Kafka adapter (src/kafka/: POST /api/v1/events, the consumer group
// and events.rules, the dead-letter topic, dedupe) with real clients: kafkajs as the other
// services (producing events, reading what the gateway produced), socket.io-client v4 as the
// users and clinicians, fetch for the REST API, a recording HTTP server as a failing service.
//
//   1. POST /api/v1/events -> 202 after the broker's ack; the record at the reply's
//      (topic, partition, offset): exact DomainEvent, key, headers (traceparent, correlation)
//   2. validation (every 400 reason), 413, 401, 403 (publish_roles), the rejected counter
//   3. a kafkajs-produced appointment event -> appointment:updated to the patient and the
//      doctor; lab.result.critical -> alert:critical (alert_id = event_id) to the clinicians
//   4. poison records (not JSON, bad event_type, data not an object) -> nilecare.dlq at once
//      with their coordinates, an event whose rooms cannot be named after one attempt; the
//      partition goes on with the next valid event
//   5. an http action against a service that always answers 500: 1 + retries calls, then
//      the dead-letter topic; the other rule's emit was still delivered, once
//   6. SIGKILL before any offset commit, restart with the same group: the redelivered event
//      is skipped (Redis dedupe), the client does not get it twice; an event_id produced
//      twice is handled once
//   7. a private dev broker taken down (SIGUSR1): 503 BROKER_UNAVAILABLE after
//      delivery_timeout, /health kafka degraded; back up (SIGUSR2): 202 again, health up
//
// Needs the test stack (the dev Kafka broker and Redis); NILECARE_STACK_ENV names its env file:
//
//   scripts/stack.sh --profile test up
//   cd tests/node && NILECARE_STACK_ENV=../../build/stack-test/stack.env node --test events.test.mjs
//
// Test 7 runs a dev broker of its own (nilecare-dev-kafka next to the gateway binary), so the
// outage does not disturb the shared one.
//
// Isolation in the shared broker: every gateway has a consumer group of its own and every test
// uses patient ids with a random suffix; what the tests read back (with kafkajs, from the
// beginning of a topic, in a fresh group) is picked out by event id, consumer group or
// coordinates. A new group starts at the end of its partitions (auto_offset_reset: latest), so
// before a test produces to a topic it "primes" the gateway: one probe per partition, until
// the gateway's log shows each probe consumed (then the group's position is set everywhere).
// Every wait has a deadline; nothing is concluded from a sleep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import kafkajs from 'kafkajs';

import {
  GATEWAY_BIN, connectClient, loadStackEnv, mergeConfig, metricValue, mintToken, recordEvents, requestJson,
  scoped, scrapeMetrics, startGateway, stopGateway, waitFor, withTimeout,
} from './realtime_support.mjs';

const { Kafka, Partitioners, logLevel } = kafkajs;

// Generous: CI has 2 cores, runs ctest -j2, and also runs this under ASan (~3x slower).
const kStepMs = 30_000;
const kTestMs = 90_000;
// Partitions of every stack topic (scripts/stack.sh KAFKA_PARTITIONS) and of test 7's broker.
const kPartitions = 3;
// How long a probe may take to show up in the gateway's log before another one is sent.
const kProbeMs = 2_000;
// The window in which an event that must not be emitted (again) would have arrived.
const kQuietMs = 1_000;
const kSource = 'events-test';
const kProducerService = 'events-test-producer';
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3,6}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const runId = crypto.randomBytes(4).toString('hex');
let counter = 0;
const unique = (kind) => `${kind}-${runId}-${++counter}`;

// ---- environment ---------------------------------------------------------------------------

let stackEnv;
function stack() {
  stackEnv ??= loadStackEnv(['NILECARE_KAFKA_BROKERS', 'NILECARE_REDIS_URL']);
  return stackEnv;
}
const brokers = () => stack().NILECARE_KAFKA_BROKERS.split(',');

// ---- per-test resources ------------------------------------------------------------------------


// ---- gateway -------------------------------------------------------------------------------

// A gateway with a `kafka:` section on the stack's broker (consumer in a group of its own,
// unless kafka.consumer is false) merged with `kafka`, plus the other `sections`. Stopped at
// the end of the test, where it must exit 0 on SIGTERM (unless the test set gw.killed); its
// log is printed when the test failed. Log level debug: "kafka event handled" names each
// consumed event (see prime()).
async function gateway(scope, { kafka = {}, ...sections } = {}, { until = 'ready' } = {}) {
  if (!existsSync(GATEWAY_BIN)) {
    throw new Error(`gateway binary ${GATEWAY_BIN} does not exist: build it, or set NILECARE_GATEWAY_BIN`);
  }
  const config = {
    log: { level: 'debug', format: 'json' },
    kafka: mergeConfig({
      brokers: brokers(),
      source_service: kSource,
      consumer: { group: unique('nc-evtest-gw'), session_timeout: '6s' },
    }, kafka),
    ...sections,
  };
  const gw = await startGateway(config, { timeout: kStepMs, until });
  scope.defer(async () => {
    const exit = await stopGateway(gw, 15_000);
    if (scope.failed) {
      process.stderr.write(`---- gateway ${gw.proc.pid} (exit ${JSON.stringify(exit)}), last log lines:\n` +
                           `${gw.logs.filter((l) => !l.includes('"msg":"http request"')).slice(-80).join('\n')}\n`);
    }
    if (!gw.killed) {
      assert.deepEqual(exit, { code: 0, signal: null },
                       `gateway ${gw.proc.pid} exits 0 on SIGTERM; last log lines:\n${gw.logs.slice(-20).join('\n')}`);
    }
  });
  return gw;
}

async function health(gw) {
  const res = await requestJson(`${gw.url}/health`, { timeout: 5_000 });
  assert.equal(res.status, 200, `/health: ${res.text}`);
  return res.body.data;
}

async function waitComponent(gw, name, state, { timeout = kStepMs, detail } = {}) {
  let last;
  try {
    return await waitFor(async () => {
      last = (await health(gw)).components[name];
      return last?.state === state && (!detail || detail.test(last.detail ?? '')) ? last : undefined;
    }, { timeout, interval: 100, message: `/health components.${name}.state == '${state}'` });
  } catch (err) {
    err.message += ` (last: ${JSON.stringify(last)})`;
    throw err;
  }
}

async function metric(gw, name, labels) {
  return metricValue(await scrapeMetrics(gw.url), name, labels);
}

// The gateway's JSON log lines (parsed) with this msg and, optionally, this event_id.
function logEntries(gw, msg, eventId) {
  const entries = [];
  for (const line of gw.logs) {
    if (!line.includes(msg)) continue;
    let entry;
    try { entry = JSON.parse(line); } catch { continue; }
    if (entry.msg === msg && (eventId === undefined || entry.event_id === eventId)) entries.push(entry);
  }
  return entries;
}

// ---- Kafka (kafkajs) -------------------------------------------------------------------------

function kafkaClient(list = brokers()) {
  return new Kafka({
    clientId: unique('nc-evtest'),
    brokers: list,
    logLevel: logLevel.ERROR,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
}

// A plain producer: the mock refuses kafkajs's idempotent one (InitProducerId).
async function kafkaProducer(scope) {
  const producer = kafkaClient().producer({
    idempotent: false, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner,
  });
  await withTimeout(producer.connect(), kStepMs, 'kafkajs producer connect');
  scope.defer(() => producer.disconnect());
  return producer;
}

// Produces one record (value: a string, or an object sent as JSON); resolves with where the
// broker put it: { topic, partition, offset } (acks: all).
async function produce(producer, topic, { key, value, headers, partition }) {
  const message = { key, value: typeof value === 'string' ? value : JSON.stringify(value), headers };
  if (partition !== undefined) message.partition = partition;
  const [meta] = await withTimeout(producer.send({ topic, acks: -1, messages: [message] }), kStepMs,
                                   `kafkajs send to ${topic}`);
  assert.equal(meta.errorCode, 0, `send to ${topic}: ${JSON.stringify(meta)}`);
  return { topic, partition: meta.partition, offset: Number(meta.baseOffset) };
}

const headersOf = (message) => Object.fromEntries(Object.entries(message.headers ?? {}).map(
  ([name, value]) => [name, Array.isArray(value) ? value.map(String) : value?.toString()]));

// A kafkajs consumer in a fresh group reading `topics` from the beginning; every record lands
// in reader.records as { topic, partition, offset, key, value, headers } (strings).
// reader.find(pred, what) waits (with a deadline) until a record matches.
async function kafkaReader(scope, topics) {
  const consumer = kafkaClient().consumer({
    groupId: unique('nc-evtest-reader'), sessionTimeout: 6_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 100,
  });
  scope.defer(() => consumer.disconnect());
  const records = [];
  await withTimeout(consumer.connect(), kStepMs, 'kafkajs consumer connect');
  await withTimeout(consumer.subscribe({ topics, fromBeginning: true }), kStepMs, 'kafkajs subscribe');
  await withTimeout(consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      records.push({
        topic, partition, offset: Number(message.offset),
        key: message.key === null ? null : message.key.toString(),
        value: message.value === null ? null : message.value.toString(),
        headers: headersOf(message),
      });
    },
  }), kStepMs, 'kafkajs consumer run');
  const find = (pred, what, timeout = kStepMs) =>
    waitFor(() => records.find(pred), { timeout, interval: 50, message: `${what} (read ${records.length} records)` });
  return { records, find };
}

// A DomainEvent as the platform's services produce it.
function envelope(eventType, data, extra = {}) {
  return {
    event_id: crypto.randomUUID(),
    event_type: eventType,
    event_version: '1.0',
    timestamp: new Date().toISOString(),
    source_service: kProducerService,
    correlation_id: crypto.randomUUID(),
    user_id: 'svc-user-1',
    data,
    ...extra,
  };
}

// The headers the platform's libraries put on an event (as the gateway does).
const eventHeaders = (event) => ({
  'event-type': event.event_type, 'event-version': event.event_version, 'correlation-id': event.correlation_id,
});

// Makes sure the gateway's consumer reads every partition of `topics` from now on: a probe
// event per partition, sent again until the gateway's log names it (a new group with
// auto_offset_reset latest would otherwise skip whatever is produced before its position is
// set). Probe types are <entity>.probe; their data has a patient_id that nobody listens to.
async function prime(gw, producer, topics) {
  for (const topic of topics) {
    const entity = topic.split('.')[0];
    for (let partition = 0; partition < kPartitions; ++partition) {
      await waitFor(async () => {
        const probe = envelope(`${entity}.probe`, { patient_id: `probe-${runId}` });
        await produce(producer, topic, { key: probe.data.patient_id, value: probe, partition });
        try {
          await waitFor(() => gw.logs.some((line) => line.includes(probe.event_id)),
                        { timeout: kProbeMs, message: 'probe consumed' });
          return true;
        } catch {
          return false;
        }
      }, { timeout: kStepMs, interval: 0, message: `the gateway consumes ${topic}[${partition}]` });
    }
  }
}

// ---- Socket.IO clients and HTTP ------------------------------------------------------------------

async function client(scope, gw, sub, role) {
  const socket = await connectClient(gw.url, {
    auth: { token: mintToken({ sub, role }) }, transports: ['websocket'],
  }, { timeout: kStepMs });
  scope.defer(() => socket.close());
  return { socket, sub, events: recordEvents(socket) };
}

const received = (who, name, eventId) =>
  who.events.filter((e) => e.event === name && e.args[0]?.event_id === eventId);

async function waitReceived(who, name, eventId, timeout = kStepMs) {
  await waitFor(() => received(who, name, eventId).length > 0,
                { timeout, message: `${who.sub} receives ${name} for ${eventId}` });
  return received(who, name, eventId)[0];
}

function publish(gw, body, { token, headers = {} } = {}) {
  return requestJson(`${gw.url}/api/v1/events`, {
    method: 'POST', body, timeout: kStepMs,
    headers: token ? { authorization: `Bearer ${token}`, ...headers } : headers,
  });
}

function assertError(res, status, code, what) {
  assert.equal(res.status, status, `${what}: ${res.text}`);
  assert.equal(res.body?.success, false, `${what}: envelope success=false: ${res.text}`);
  assert.equal(res.body?.status, status, `${what}: envelope status: ${res.text}`);
  if (code) assert.equal(res.body?.error?.code, code, `${what}: error.code: ${res.text}`);
}

// A service that answers every call with `status` and records it: { url, calls: [{ at,
// method, path, headers, body }] }.
async function recordingService(scope, status) {
  const service = { calls: [], url: '' };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      service.calls.push({ at: Date.now(), method: req.method, path: req.url, headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8') });
      const text = JSON.stringify({ success: false, message: 'always failing (test)' });
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  const sockets = new Set();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  service.url = `http://127.0.0.1:${server.address().port}`;
  scope.defer(() => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  return service;
}

// One Redis command over RESP (the stack's Redis has no password); the raw reply, trimmed.
async function redisCommand(args, url = stack().NILECARE_REDIS_URL) {
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  try {
    return await withTimeout(new Promise((resolve, reject) => {
      let reply = '';
      socket.setEncoding('utf8');
      socket.once('error', reject);
      socket.on('data', (chunk) => {
        reply += chunk;
        if (reply.endsWith('\r\n')) resolve(reply.trim());
      });
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    }), 5_000, `redis ${args[0]}`);
  } finally {
    socket.destroy();
  }
}

// ---- 1. POST /api/v1/events -> the record ------------------------------------------------------

test('POST /api/v1/events: 202 after the broker acknowledged; the record has the exact event, key and headers',
  { timeout: kTestMs }, () => scoped(async (scope) => {
    const reader = await kafkaReader(scope, ['appointment.events']);
    const gw = await gateway(scope, { kafka: { consumer: false } });
    const sub = unique('doctor');
    const token = mintToken({ sub, role: 'doctor' });
    const patientId = unique('P');
    const correlationId = unique('corr');
    const traceparent = `00-${crypto.randomBytes(16).toString('hex')}-${crypto.randomBytes(8).toString('hex')}-01`;
    const delivered = await metric(gw, 'nilecare_kafka_produced_total', { result: 'delivered' });

    // (a) patient_id in data: the key; X-Correlation-ID and traceparent go into the event.
    const data = { patient_id: patientId, appointment_id: unique('APT'), doctor_id: sub, slot: { at: '2026-12-06T09:30:00Z', minutes: 20 } };
    const metadata = { channel: 'web', tags: ['follow-up'] };
    const before = Date.now();
    const res = await publish(gw, { event_type: 'appointment.scheduled', data, metadata },
                              { token, headers: { 'x-correlation-id': correlationId, traceparent } });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.success, true, res.text);
    assert.equal(res.body.status, 202, res.text);
    assert.deepEqual(Object.keys(res.body.data).sort(), ['event_id', 'offset', 'partition', 'topic'], res.text);
    const reply = res.body.data;
    assert.match(reply.event_id, UUID);
    assert.equal(reply.topic, 'appointment.events');
    assert.ok(Number.isInteger(reply.partition) && reply.partition >= 0 && reply.partition < kPartitions, res.text);
    assert.ok(Number.isInteger(reply.offset) && reply.offset >= 0, res.text);
    assert.equal(await metric(gw, 'nilecare_kafka_produced_total', { result: 'delivered' }), delivered + 1);

    const at = (r) => (rec) => rec.topic === r.topic && rec.partition === r.partition && rec.offset === r.offset;
    const record = await reader.find(at(reply), `record at ${reply.topic}[${reply.partition}]@${reply.offset}`);
    const value = JSON.parse(record.value);
    assert.match(value.timestamp, ISO_MS, record.value);
    const stamped = Date.parse(value.timestamp);
    assert.ok(stamped >= before - 1_000 && stamped <= Date.now() + 1_000, `timestamp is now: ${value.timestamp}`);
    assert.deepEqual(value, {
      event_id: reply.event_id, event_type: 'appointment.scheduled', event_version: '1.0',
      timestamp: value.timestamp, source_service: kSource, correlation_id: correlationId, user_id: sub,
      data, metadata,
    });
    assert.equal(record.key, patientId, 'keyed by data.patient_id');
    assert.deepEqual(record.headers, {
      'event-type': 'appointment.scheduled', 'event-version': '1.0', 'correlation-id': correlationId, traceparent,
    });

    // (b) body.key overrides the patient id; a malformed traceparent is not passed on.
    const key = unique('custom-key');
    const res2 = await publish(gw, { event_type: 'appointment.rescheduled', data: { patient_id: patientId }, key },
                               { token, headers: { 'x-correlation-id': correlationId, traceparent: '00-zz-broken-01' } });
    assert.equal(res2.status, 202, res2.text);
    const record2 = await reader.find(at(res2.body.data), 'record with the key override');
    assert.equal(record2.key, key);
    assert.equal(JSON.parse(record2.value).event_id, res2.body.data.event_id);
    assert.deepEqual(record2.headers, {
      'event-type': 'appointment.rescheduled', 'event-version': '1.0', 'correlation-id': correlationId,
    }, 'no traceparent header for an invalid traceparent');

    // (c) no patient_id, no X-Correlation-ID: keyed by event_id; correlation = the request id.
    const res3 = await publish(gw, { event_type: 'appointment.cancelled', data: { appointment_id: unique('APT') } }, { token });
    assert.equal(res3.status, 202, res3.text);
    const record3 = await reader.find(at(res3.body.data), 'record without a patient id');
    const value3 = JSON.parse(record3.value);
    assert.equal(record3.key, res3.body.data.event_id, 'keyed by event_id');
    assert.equal(value3.correlation_id, res3.body.request_id, 'correlation_id = the request id');
    assert.equal(record3.headers['correlation-id'], res3.body.request_id);
    assert.equal(value3.user_id, sub);
    assert.equal('metadata' in value3, false, 'no metadata when none was sent');
    assert.equal(await metric(gw, 'nilecare_kafka_produced_total', { result: 'delivered' }), delivered + 3);
    assert.ok(await metric(gw, 'nilecare_kafka_delivery_seconds_count') >= 3);
  }));

// ---- 2. validation, size, auth -------------------------------------------------------------------

test('POST /api/v1/events refuses bad bodies (400 with field and reason), 413, 401, 403; each counted',
  { timeout: kTestMs }, () => scoped(async (scope) => {
    const gw = await gateway(scope, {
      kafka: { consumer: false, publish_roles: ['service'], producer: { max_event_bytes: '1KiB' } },
    });
    const token = mintToken({ sub: unique('svc'), role: 'service' });
    const rejected = () => metric(gw, 'nilecare_events_api_rejected_total');
    const before = await rejected();
    let refused = 0;

    const cases = [
      ['not JSON', 'this is not json', 'body', 'not_object'],
      ['an array', [1, 2], 'body', 'not_object'],
      ['an unknown field', { event_type: 'appointment.scheduled', data: {}, priority: 1 }, 'priority', 'unknown_field'],
      ['no event_type', { data: {} }, 'event_type', 'required'],
      ['event_type not a string', { event_type: 7, data: {} }, 'event_type', 'required'],
      ['upper case', { event_type: 'Appointment.Scheduled', data: {} }, 'event_type', 'format'],
      ['one segment', { event_type: 'appointment', data: {} }, 'event_type', 'format'],
      ['an unknown entity', { event_type: 'spaceship.launched', data: {} }, 'event_type', 'unknown_entity'],
      ['no data', { event_type: 'appointment.scheduled' }, 'data', 'not_object'],
      ['data an array', { event_type: 'appointment.scheduled', data: [1] }, 'data', 'not_object'],
      ['metadata a string', { event_type: 'appointment.scheduled', data: {}, metadata: 'x' }, 'metadata', 'not_object'],
      ['an empty key', { event_type: 'appointment.scheduled', data: {}, key: '' }, 'key', 'format'],
      ['a numeric key', { event_type: 'appointment.scheduled', data: {}, key: 5 }, 'key', 'format'],
      ['a 257-character key', { event_type: 'appointment.scheduled', data: {}, key: 'k'.repeat(257) }, 'key', 'format'],
    ];
    for (const [what, body, field, reason] of cases) {
      const res = await publish(gw, body, { token });
      assertError(res, 400, 'VALIDATION_ERROR', what);
      assert.deepEqual(res.body.error.details, { field, reason }, `${what}: ${res.text}`);
      ++refused;
    }

    // 413: over kafka.producer.max_event_bytes (1 KiB here).
    const big = await publish(gw, { event_type: 'appointment.scheduled', data: { note: 'x'.repeat(2_000) } }, { token });
    assertError(big, 413, 'PAYLOAD_TOO_LARGE', 'a 2 KB event');
    assert.equal(big.body.error.details?.max_bytes, 1024, big.text);
    ++refused;

    // 401: no token, a bad signature, an expired token, another issuer.
    const valid = { event_type: 'appointment.scheduled', data: { patient_id: unique('P') } };
    const sub = unique('svc');
    for (const [what, bearer, reason] of [
      ['no token', undefined, 'missing_token'],
      ['a bad signature', mintToken({ sub, role: 'service' }, { secret: 'another-secret-0123456789abcdef0123456789' }), 'bad_signature'],
      ['an expired token', mintToken({ sub, role: 'service', iat: 1_000, exp: 2_000 }), 'expired'],
      ['another issuer', mintToken({ sub, role: 'service', iss: 'someone-else' }), undefined],
    ]) {
      const res = await publish(gw, valid, { token: bearer });
      assertError(res, 401, 'UNAUTHORIZED', what);
      if (reason) assert.equal(res.body.error.details?.reason, reason, `${what}: ${res.text}`);
      ++refused;
    }

    // 403: a valid token whose role is not in kafka.publish_roles.
    const doctor = await publish(gw, valid, { token: mintToken({ sub: unique('doctor'), role: 'doctor' }) });
    assertError(doctor, 403, 'FORBIDDEN', 'a doctor (publish_roles: [service])');
    ++refused;

    assert.equal(await rejected(), before + refused, 'nilecare_events_api_rejected_total counts every refusal');
    assert.equal(await metric(gw, 'nilecare_kafka_produced_total'), 0, 'nothing refused was produced');

    // The same body with the right role, and an event just under the limit, are published.
    const ok = await publish(gw, valid, { token });
    assert.equal(ok.status, 202, ok.text);
    const fits = await publish(gw, { event_type: 'appointment.scheduled', data: { note: 'x'.repeat(900) } }, { token });
    assert.equal(fits.status, 202, fits.text);
    assert.equal(await rejected(), before + refused, 'a 202 is not counted as rejected');
  }));

// ---- 3. consumed events -> Socket.IO -----------------------------------------------------------

test('consumed events reach Socket.IO: appointment:updated to patient and doctor, alert:critical to clinicians',
  { timeout: kTestMs }, () => scoped(async (scope) => {
    const producer = await kafkaProducer(scope);
    const gw = await gateway(scope);  // the built-in events.rules
    await prime(gw, producer, ['appointment.events', 'lab.events']);
    const patientId = unique('P');
    const patient = await client(scope, gw, patientId, 'patient');
    const doctor = await client(scope, gw, unique('dr'), 'doctor');
    const nurse = await client(scope, gw, unique('nurse'), 'nurse');
    const reply = await nurse.socket.timeout(kStepMs).emitWithAck('subscribe:patient', patientId);
    assert.deepEqual(reply, { success: true, room: `patient:${patientId}` });

    const appointment = envelope('appointment.scheduled', {
      patient_id: patientId, doctor_id: doctor.sub, appointment_id: unique('APT'), scheduled_at: '2026-12-07T10:00:00Z',
      room_no: 12, telehealth: false,
    });
    await produce(producer, 'appointment.events', { key: patientId, value: appointment, headers: eventHeaders(appointment) });
    const expected = { ...appointment.data, event_id: appointment.event_id, event_type: 'appointment.scheduled' };
    const toPatient = await waitReceived(patient, 'appointment:updated', appointment.event_id);
    assert.deepEqual(toPatient.args[0], expected, 'user:{data.patient_id} gets data + event_id + event_type');
    const toDoctor = await waitReceived(doctor, 'appointment:updated', appointment.event_id);
    assert.deepEqual(toDoctor.args[0], expected, 'user:{data.doctor_id} gets the same');

    const critical = envelope('lab.result.critical', {
      patient_id: patientId, test: 'potassium', value: 6.9, unit: 'mmol/L', source: 'lab-analyzer-7',
    });
    await produce(producer, 'lab.events', { key: patientId, value: critical, headers: eventHeaders(critical) });
    const alertToDoctor = await waitReceived(doctor, 'alert:critical', critical.event_id);
    assert.deepEqual(alertToDoctor.args[0], {
      ...critical.data, event_id: critical.event_id, event_type: 'lab.result.critical',
      alert_type: 'lab.result.critical', severity: 'critical', timestamp: critical.timestamp,
      alert_id: critical.event_id,
    }, 'role:doctor: data + event fields, alert defaults where data has none (source kept), alert_id = event_id');
    assert.equal(typeof alertToDoctor.ack, 'function', 'alert:critical asks for an ack');
    const alertToNurse = await waitReceived(nurse, 'alert:critical', critical.event_id);
    assert.deepEqual(alertToNurse.args[0], alertToDoctor.args[0], 'patient:{data.patient_id} gets the same alert');

    const acknowledged = await metric(gw, 'nilecare_realtime_alerts_total', { event: 'acknowledged' });
    alertToDoctor.ack({ acknowledged: true });
    await waitFor(async () => (await metric(gw, 'nilecare_realtime_alerts_total', { event: 'acknowledged' })) === acknowledged + 1,
                  { timeout: kStepMs, message: 'the alert is acknowledged' });

    assert.equal(received(patient, 'alert:critical', critical.event_id).length, 0,
                 'the patient (user:, not patient: room) gets no alert');
    assert.equal(received(patient, 'appointment:updated', appointment.event_id).length, 1);
    assert.ok(await metric(gw, 'nilecare_kafka_events_total', { result: 'handled' }) >= 2);
    assert.ok(await metric(gw, 'nilecare_kafka_consumed_total', { topic: 'lab.events' }) >= 1);
    // lab.probe (prime()) matches no built-in rule.
    assert.ok(await metric(gw, 'nilecare_kafka_events_total', { result: 'unmatched' }) >= kPartitions);
    const metrics = await scrapeMetrics(gw.url);
    for (const name of ['nilecare_kafka_consumer_lag', 'nilecare_kafka_broker_up']) {
      assert.ok(metrics.has(name), `${name} is exported`);
    }
    assert.equal(metricValue(metrics, 'nilecare_kafka_broker_up'), 1);
  }));

// ---- 4. poison records -> dead-letter topic ------------------------------------------------------

test('unparseable records (and an event without rooms) go to nilecare.dlq with their coordinates; the partition goes on',
  { timeout: kTestMs }, () => scoped(async (scope) => {
    const dlq = await kafkaReader(scope, ['nilecare.dlq']);
    const producer = await kafkaProducer(scope);
    const gw = await gateway(scope);
    const group = gw.config.kafka.consumer.group;
    await prime(gw, producer, ['lab.events']);
    const patientId = unique('P');
    const patient = await client(scope, gw, patientId, 'patient');
    const partition = 1;  // all in one partition: the valid event comes after the poison

    const badType = envelope('Lab.Result!', { patient_id: patientId });
    const dataArray = envelope('lab.result.available', [patientId]);
    const noRooms = envelope('lab.result.available', { test: 'hba1c', value: 5.4 });
    const poison = [
      { reason: 'not_json', key: unique('poison'), value: 'this is not json {', headers: { 'x-test-run': runId } },
      { reason: 'bad_event_type', key: patientId, value: JSON.stringify(badType), headers: { 'x-test-run': runId, ...eventHeaders(badType) } },
      { reason: 'data_not_object', key: patientId, value: JSON.stringify(dataArray), headers: { 'x-test-run': runId } },
      // Parseable, but the built-in rule's rooms (user:{data.patient_id}, user:{data.doctor_id})
      // cannot be named: a permanent failure after one attempt.
      { reason: 'no_room_resolved', metricReason: 'action_failed', attempts: '1', failedAction: 'default emit',
        key: patientId, value: JSON.stringify(noRooms), headers: eventHeaders(noRooms) },
    ];
    for (const p of poison) p.at = await produce(producer, 'lab.events', { ...p, partition });
    const valid = envelope('lab.result.available', { patient_id: patientId, test: 'hba1c', value: 5.4 });
    const validAt = await produce(producer, 'lab.events', { key: patientId, value: valid, partition });
    assert.ok(validAt.offset > poison.at(-1).at.offset);

    const note = await waitReceived(patient, 'notification:new', valid.event_id);
    assert.deepEqual(note.args[0], { ...valid.data, event_id: valid.event_id, event_type: 'lab.result.available' },
                     'the valid event after the poison is handled');

    for (const p of poison) {
      const record = await dlq.find((r) => r.headers['x-consumer-group'] === group &&
        r.headers['x-original-topic'] === 'lab.events' && r.headers['x-original-offset'] === String(p.at.offset) &&
        r.headers['x-original-partition'] === String(p.at.partition), `dead-letter record of the ${p.reason} record`);
      assert.equal(record.key, p.key, `${p.reason}: original key`);
      assert.equal(record.value, p.value, `${p.reason}: original value, byte for byte`);
      const { 'x-failed-at': failedAt, ...headers } = record.headers;
      assert.match(failedAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/, `${p.reason}: x-failed-at`);
      assert.ok(Math.abs(Date.parse(failedAt) - Date.now()) < 60_000, `${p.reason}: x-failed-at is recent: ${failedAt}`);
      assert.deepEqual(headers, {
        ...p.headers,
        'x-error': p.reason, 'x-attempts': p.attempts ?? '0', 'x-original-topic': 'lab.events',
        'x-original-partition': String(partition), 'x-original-offset': String(p.at.offset), 'x-consumer-group': group,
        ...(p.failedAction ? { 'x-failed-action': p.failedAction } : {}),
      }, `${p.reason}: original headers kept, dead-letter headers added (x-failed-action only for an action)`);
      assert.ok(await metric(gw, 'nilecare_kafka_dead_lettered_total', { reason: p.metricReason ?? p.reason }) >= 1,
                `${p.reason} counted`);
    }
    assert.ok(await metric(gw, 'nilecare_kafka_events_total', { result: 'dead_lettered' }) >= poison.length);
    assert.equal(received(patient, 'notification:new', valid.event_id).length, 1);
    assert.equal((await health(gw)).components.events.state, 'up');
  }));

// ---- 5. failing http action -> retries -> dead-letter ---------------------------------------------

test('an http action answered 500: 1 + retries calls with back-off, then nilecare.dlq; the other rule\'s emit is delivered once',
  { timeout: kTestMs }, () => scoped(async (scope) => {
    const dlq = await kafkaReader(scope, ['nilecare.dlq']);
    const producer = await kafkaProducer(scope);
    const service = await recordingService(scope, 500);
    const gw = await gateway(scope, {
      kafka: { consumer: { retries: 2, retry_min: '50ms', retry_max: '200ms' } },
      upstreams: { followup: { url: service.url } },
      // The REST adapter (and so http actions) exists only with a route.
      routes: [{ prefix: '/api/v1/followup', upstream: 'followup', auth: 'none' }],
      events: {
        rules: [
          { match: 'appointment.no_show', actions: [{ http: { upstream: 'followup', method: 'POST', path: '/x/{data.patient_id}' } }] },
          { match: 'appointment.*', actions: [{ emit: { event: 'appointment:updated', rooms: ['user:{data.patient_id}'] } }] },
        ],
      },
    });
    const group = gw.config.kafka.consumer.group;
    await prime(gw, producer, ['appointment.events']);
    const patientId = unique('P');
    const patient = await client(scope, gw, patientId, 'patient');

    const event = envelope('appointment.no_show', { patient_id: patientId, appointment_id: unique('APT') });
    const headers = eventHeaders(event);
    const at = await produce(producer, 'appointment.events', { key: patientId, value: event, headers });

    const record = await dlq.find((r) => r.headers['x-consumer-group'] === group &&
      r.headers['x-original-offset'] === String(at.offset) && r.headers['x-original-partition'] === String(at.partition),
      'the dead-letter record of the failed action');
    assert.equal(record.key, patientId);
    assert.equal(record.value, JSON.stringify(event));
    const { 'x-failed-at': failedAt, 'x-failed-action': failedAction, ...rest } = record.headers;
    assert.match(failedAt ?? '', /^\d{4}-\d{2}-\d{2}T/);
    assert.match(failedAction ?? '', /^\S+:\d+ http$/, 'x-failed-action: "<rule origin> http"');
    assert.ok(failedAction.startsWith(gw.configPath), `the origin names the config file: ${failedAction}`);
    assert.deepEqual(rest, {
      ...headers, 'x-error': 'http_500', 'x-attempts': '3', 'x-original-topic': 'appointment.events',
      'x-original-partition': String(at.partition), 'x-original-offset': String(at.offset), 'x-consumer-group': group,
    });

    const calls = service.calls.filter((c) => c.path === `/x/${patientId}`);
    assert.equal(calls.length, 3, `1 + retries (2) calls: ${JSON.stringify(calls.map((c) => c.path))}`);
    for (const call of calls) {
      assert.equal(call.method, 'POST');
      assert.equal(call.headers['x-correlation-id'], event.correlation_id);
      assert.match(call.headers['content-type'] ?? '', /application\/json/);
      assert.deepEqual(JSON.parse(call.body), event, 'the body is the event');
    }
    const gaps = [calls[1].at - calls[0].at, calls[2].at - calls[1].at];
    assert.ok(gaps[0] >= 45 && gaps[1] >= 95, `back-off 50 ms, then 100 ms: gaps ${gaps.join(', ')} ms`);

    const updates = received(patient, 'appointment:updated', event.event_id);
    assert.equal(updates.length, 1, 'the emit rule ran once (not once per http attempt)');
    assert.deepEqual(updates[0].args[0], { ...event.data, event_id: event.event_id, event_type: 'appointment.no_show' });
    assert.ok(await metric(gw, 'nilecare_kafka_dead_lettered_total', { reason: 'action_failed' }) >= 1);
  }));

// ---- 6. restart without double handling -----------------------------------------------------------

test('SIGKILL before the offset commit and a restart in the same group: the redelivered event is skipped',
  { timeout: kTestMs }, (t) => scoped(async (scope) => {
    const producer = await kafkaProducer(scope);
    const keyPrefix = `nc-evtest-${runId}-${++counter}:`;
    const group = unique('nc-evtest-restart');
    const sections = {
      redis: { url: stack().NILECARE_REDIS_URL, key_prefix: keyPrefix },
      kafka: {
        // earliest: without committed offsets the restarted gateway reads the event again.
        consumer: { group, topics: ['appointment.events'], auto_offset_reset: 'earliest', commit_interval: '60s',
          session_timeout: '6s', dedupe_ttl: '10m' },
      },
      events: { rules: [{ match: 'appointment.*', actions: [{ emit: { event: 'appointment:updated', rooms: ['user:{data.patient_id}'] } }] }] },
    };
    const first = await gateway(scope, sections);
    const patientId = unique('P');
    const patientA = await client(scope, first, patientId, 'patient');
    const event = envelope('appointment.confirmed', { patient_id: patientId, appointment_id: unique('APT') });
    const dedupeKey = (id) => `${keyPrefix}event:${id}`;
    scope.defer(() => redisCommand(['DEL', dedupeKey(event.event_id)]));
    await produce(producer, 'appointment.events', { key: patientId, value: event, headers: eventHeaders(event) });
    await waitReceived(patientA, 'appointment:updated', event.event_id);
    await waitFor(async () => (await redisCommand(['EXISTS', dedupeKey(event.event_id)])) === ':1',
                  { timeout: kStepMs, message: `${dedupeKey(event.event_id)} in Redis` });

    first.killed = true;
    first.proc.kill('SIGKILL');
    await withTimeout(first.exited, kStepMs, 'SIGKILL');
    patientA.socket.close();

    // Nothing was committed (commit_interval 60s): the group's offsets are still unset.
    const admin = kafkaClient().admin();
    await withTimeout(admin.connect(), kStepMs, 'kafkajs admin connect');
    scope.defer(() => admin.disconnect());
    const committed = await withTimeout(admin.fetchOffsets({ groupId: group, topics: ['appointment.events'] }),
                                        kStepMs, 'fetch the group\'s offsets');
    assert.deepEqual(committed[0].partitions.map((p) => p.offset), Array(kPartitions).fill('-1'),
                     `no committed offsets: ${JSON.stringify(committed)}`);

    // The client connects before the new gateway joins the group (the dead member holds it
    // for up to session_timeout), so it would see a second emit.
    const second = await gateway(scope, sections, { until: 'started' });
    const patientB = await client(scope, second, patientId, 'patient');
    assert.equal((await health(second)).components.events.state, 'starting',
                 'the client is connected before the consumer joined (else this test proves less)');
    await waitFor(() => logEntries(second, 'kafka event skipped: already handled', event.event_id).length > 0,
                  { timeout: kStepMs, message: 'the restarted gateway reads the event again and skips it' });
    assert.ok(await metric(second, 'nilecare_kafka_events_total', { result: 'duplicate' }) >= 1);
    // A control event after it, same key (same partition, so handled after it): delivered.
    const control = envelope('appointment.checked_in', { patient_id: patientId });
    scope.defer(() => redisCommand(['DEL', dedupeKey(control.event_id)]));
    await produce(producer, 'appointment.events', { key: patientId, value: control, headers: eventHeaders(control) });
    await waitReceived(patientB, 'appointment:updated', control.event_id);
    assert.equal(received(patientB, 'appointment:updated', event.event_id).length, 0,
                 'the redelivered event was not emitted again');

    // The same event_id produced twice: handled once.
    const duplicates = await metric(second, 'nilecare_kafka_events_total', { result: 'duplicate' });
    await produce(producer, 'appointment.events', { key: patientId, value: control, headers: eventHeaders(control) });
    await waitFor(() => logEntries(second, 'kafka event skipped: already handled', control.event_id).length === 1,
                  { timeout: kStepMs, message: 'the second copy is skipped' });
    assert.equal(await metric(second, 'nilecare_kafka_events_total', { result: 'duplicate' }), duplicates + 1);
    await new Promise((resolve) => setTimeout(resolve, kQuietMs));  // a wrong emit would be on its way by now
    assert.equal(received(patientB, 'appointment:updated', control.event_id).length, 1, 'one emit for two copies');
    assert.equal(received(patientB, 'appointment:updated', event.event_id).length, 0);
    t.diagnostic(`restarted gateway: ${duplicates + 1} duplicates skipped`);
  }));

// ---- 7. broker outage -> 503 ------------------------------------------------------------------

// A dev broker of the test's own (build/nilecare-dev-kafka), stopped at the end of the test.
async function privateBroker(scope, topics) {
  const bin = path.join(path.dirname(GATEWAY_BIN), 'nilecare-dev-kafka');
  if (!existsSync(bin)) throw new Error(`${bin} does not exist: build the nilecare-dev-kafka target`);
  const dir = mkdtempSync(path.join(tmpdir(), 'nc-evtest-kafka-'));
  scope.defer(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'bootstrap');
  const proc = spawn(bin, ['--bootstrap-file', file, '--topics', topics.join(','), '--partitions', String(kPartitions)],
                     { stdio: ['ignore', 'ignore', 'pipe'] });
  const broker = { proc, log: '', bootstrap: '' };
  proc.stderr.setEncoding('utf8').on('data', (chunk) => { broker.log += chunk; });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  scope.defer(async () => {
    proc.kill('SIGTERM');
    assert.deepEqual(await withTimeout(exited, kStepMs, 'dev broker exit'), { code: 0, signal: null });
  });
  await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').trim(), {
    timeout: kStepMs, message: `${bin} writes ${file}`,
  }).catch((err) => { err.message += `\n${broker.log}`; throw err; });
  broker.bootstrap = readFileSync(file, 'utf8').trim();
  // SIGUSR1: every broker down (connections closed, new ones refused); SIGUSR2: up again.
  broker.signal = async (signal, expect) => {
    const seen = broker.log.split(expect).length - 1;
    proc.kill(signal);
    await waitFor(() => broker.log.split(expect).length - 1 > seen,
                  { timeout: kStepMs, message: `dev broker says "${expect}"` });
  };
  return broker;
}

test('broker down: 503 BROKER_UNAVAILABLE after delivery_timeout, /health kafka degraded; back up: 202 again',
  { timeout: kTestMs }, () => scoped(async (scope) => {
    const broker = await privateBroker(scope, ['appointment.events', 'lab.events', 'nilecare.dlq']);
    const gw = await gateway(scope, {
      kafka: { brokers: broker.bootstrap.split(','), consumer: false, producer: { delivery_timeout: '2s' } },
    });
    const token = mintToken({ sub: unique('svc'), role: 'service' });
    const body = () => ({ event_type: 'appointment.scheduled', data: { patient_id: unique('P') } });
    await waitComponent(gw, 'kafka', 'up');
    const first = await publish(gw, body(), { token });
    assert.equal(first.status, 202, first.text);

    await broker.signal('SIGUSR1', 'brokers down');
    const started = Date.now();
    const res = await publish(gw, body(), { token });
    const took = Date.now() - started;
    assertError(res, 503, 'BROKER_UNAVAILABLE', 'POST with the broker down');
    assert.ok(Number.isInteger(res.body.error.retry_after) && res.body.error.retry_after > 0, res.text);
    assert.equal(res.headers.get('retry-after'), String(Math.max(1, Math.ceil(res.body.error.retry_after / 1000))),
                 'Retry-After (s) goes with error.retry_after (ms)');
    assert.ok(took >= 1_500 && took < 10_000, `answered after the 2 s delivery timeout, not before or long after (${took} ms)`);
    const degraded = await waitComponent(gw, 'kafka', 'degraded', { timeout: 15_000 });
    assert.match(degraded.detail ?? '', /kafka cluster unreachable/);
    assert.equal((await health(gw)).status, 'degraded');
    // The gauge follows the metadata probe (every 2 s); health may have learnt it sooner.
    await waitFor(async () => (await metric(gw, 'nilecare_kafka_broker_up')) === 0,
                  { timeout: 10_000, interval: 100, message: 'nilecare_kafka_broker_up 0' });
    assert.ok(await metric(gw, 'nilecare_kafka_produced_total', { result: 'timed_out' }) +
              await metric(gw, 'nilecare_kafka_produced_total', { result: 'failed' }) >= 1);

    await broker.signal('SIGUSR2', 'brokers up');
    let last;
    await waitFor(async () => (last = await publish(gw, body(), { token })).status === 202,
                  { timeout: 45_000, interval: 200, message: 'a POST is published again' })
      .catch((err) => { err.message += ` (last: ${last?.status} ${last?.text})`; throw err; });
    await waitComponent(gw, 'kafka', 'up', { timeout: 15_000 });
    await waitFor(async () => (await metric(gw, 'nilecare_kafka_broker_up')) === 1,
                  { timeout: 10_000, interval: 100, message: 'nilecare_kafka_broker_up 1' });
    assert.equal((await health(gw)).status, 'ok');
  }));
