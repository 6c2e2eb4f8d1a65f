// End-to-end tests of the MQTT vitals ingest (src/mqtt/) with real servers and real npm
// clients: the stack's mosquitto and PostgreSQL, `mqtt` v5 as the devices, socket.io-client v4
// as the clinicians, fetch for the device REST API, psql to look at what was stored.
//
//   1. a reading -> vitals:update (exact payload) and a device_vitals row
//   2. a threshold breach -> exactly one alert:critical per clinician (re-arm), device_alerts
//   3. device -> patient mapping (PUT), readings without patient_id, the device REST API and
//      its auth / validation answers
//   4. device status through the retained message and the last will
//   5. device commands: 202 after the broker's PUBACK, the device gets the command; 403, 400
//   6. 10,000 malformed messages: all counted and kept in vitals_rejects, the gateway healthy
//   7. kill -9 mid-stream and restart (same client id and journal): zero loss, no duplicates
//   8. PostgreSQL (a private instance) down for 10 s mid-stream: zero loss, health degraded
//      during the outage and up again after
//   9. two gateways in one shared subscription group split the readings; every one stored once
//  10. a full journal (database unreachable): ingest waits, a SIGTERM in that state and a
//      restart with the database lose nothing
//  11. TLS: a private CA, mosquitto with a TLS listener of the test's own; the gateway with
//      the CA gets readings over ssl://, the gateway with another CA never connects
//
// Needs the test stack (mosquitto and PostgreSQL); NILECARE_STACK_ENV names its env file:
//
//   scripts/stack.sh --profile test --only mqtt,pg up
//   cd tests/node && NILECARE_STACK_ENV=../../build/stack-test/stack.env node --test vitals.test.mjs
//
// Test 8 runs a PostgreSQL 15 of its own (/usr/lib/postgresql/15/bin; as user `postgres` when
// run as root). The gateway binary: NILECARE_GATEWAY_BIN (ctest sets it), else
// ../../build/nilecare-gateway.
//
// Isolation in the shared servers: every gateway has a client id of its own (the broker keeps
// a persistent session per id; it is discarded after the test) and a journal of its own, and
// every test uses device and patient ids with a random suffix. Every reading carries a
// timestamp and a seq, so a reading stored twice would be a duplicate row, never a new one.
// Any other gateway subscribed to devices/+/... on the same broker (a second run of this file,
// a developer's) also takes every message published there, so only tests 1, 4 and 5 use the
// default topic root `devices`; the others use a topic root of their own (mqtt.topic_root),
// because another gateway would add device_alerts / vitals_rejects rows of its own (2, 6),
// store readings of a freshly mapped device without its patient (3), or store the readings
// while the gateway under test is dead (7, 8).
// Every wait has a deadline; nothing is concluded from a sleep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import * as mqtt from 'mqtt';

import {
  GATEWAY_BIN, connectClient, freePort, loadStackEnv, metricValue, mintToken, recordEvents, requestJson,
  runCommand, scoped, scrapeMetrics, startGateway, stopGateway, waitFor, withTimeout,
} from './realtime_support.mjs';

// Generous: CI has 2 cores, runs ctest -j2, and also runs this under ASan (~3x slower).
const kStepMs = 30_000;
const kTestMs = 120_000;
const kSlowTestMs = 240_000;

const runId = crypto.randomBytes(4).toString('hex');
const PG_BIN = '/usr/lib/postgresql/15/bin';
const PSQL = ['/usr/bin/psql', `${PG_BIN}/psql`].find((file) => existsSync(file));

// ---- environment ---------------------------------------------------------------------------

let stackEnv;
function stack() {
  stackEnv ??= loadStackEnv(['NILECARE_MQTT_URL', 'NILECARE_PG_URL']);
  return stackEnv;
}

// ---- per-test resources ------------------------------------------------------------------------


let counter = 0;
const unique = (kind) => `${kind}-${runId}-${++counter}`;
// mqtt.topic_root of its own for a test that another gateway on the shared broker would
// disturb (see the header).
const isolatedRoot = () => `nc-test-${runId}-${++counter}/devices`;

function tempDir(scope, prefix) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  scope.defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// A gateway MQTT client id, whose persistent session is discarded at the end of the test
// (after the gateways using it have stopped: cleanups run in reverse order).
function gatewayClientId(scope) {
  const clientId = `nc-vitals-test-${runId}-${++counter}`;
  scope.defer(() => discardSession(clientId));
  return clientId;
}

// A clean-session CONNECT under `clientId` makes the broker drop the persistent session
// (subscriptions and queued messages) the gateway left behind.
async function discardSession(clientId) {
  const client = mqtt.connect(stack().NILECARE_MQTT_URL, {
    clientId, clean: true, reconnectPeriod: 0, connectTimeout: kStepMs,
  });
  try {
    await withTimeout(new Promise((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    }), kStepMs, `mqtt connect ${clientId} (discarding its session)`);
  } finally {
    await client.endAsync(true).catch(() => {});
  }
}

function vitalsConfig({ clientId, journalDir, pgUrl = stack().NILECARE_PG_URL, mqtt: more = {},
  ...sections }) {
  return {
    database: { url: pgUrl, connect_timeout: '3s' },
    mqtt: {
      urls: [stack().NILECARE_MQTT_URL],
      client_id: clientId,
      journal_dir: journalDir,
      reconnect_min: '1s',
      reconnect_max: '2s',
      db_retry_max: '1s',
      ...more,
    },
    ...sections,
  };
}

// Starts a gateway with `config` and waits until its MQTT component is up (connected and
// subscribed, database reachable). Stopped at the end of the test, where it must exit 0 on
// SIGTERM within 15 s (unless the test set gw.killed); its log is printed when the test failed.
async function gateway(scope, config) {
  if (!existsSync(GATEWAY_BIN)) {
    throw new Error(`gateway binary ${GATEWAY_BIN} does not exist: build it, or set NILECARE_GATEWAY_BIN`);
  }
  const gw = await startGateway(config, { timeout: kStepMs });
  scope.defer(async () => {
    const exit = await stopGateway(gw, 15_000);
    if (scope.failed) {
      process.stderr.write(`---- gateway ${gw.proc.pid} (exit ${JSON.stringify(exit)}), last log lines:\n` +
                           `${gw.logs.slice(-60).join('\n')}\n`);
    }
    if (!gw.killed) {
      assert.deepEqual(exit, { code: 0, signal: null },
                       `gateway ${gw.proc.pid} exits 0 on SIGTERM; last log lines:\n${gw.logs.slice(-20).join('\n')}`);
    }
  });
  await waitMqttState(gw, 'up');
  return gw;
}

// A fresh gateway with its own client id and journal.
async function freshGateway(scope, sections = {}) {
  return gateway(scope, vitalsConfig({
    clientId: gatewayClientId(scope), journalDir: tempDir(scope, 'nc-journal-'), ...sections,
  }));
}

async function health(gw) {
  const res = await requestJson(`${gw.url}/health`, { timeout: 5_000 });
  assert.equal(res.status, 200, `/health: ${res.text}`);
  return res.body;
}

async function waitMqttState(gw, state, timeout = kStepMs) {
  let last;
  try {
    return await waitFor(async () => {
      last = (await health(gw)).data.components.mqtt;
      return last?.state === state ? last : undefined;
    }, { timeout, interval: 50, message: `/health components.mqtt.state == '${state}'` });
  } catch (err) {
    err.message += ` (last: ${JSON.stringify(last)})`;
    throw err;
  }
}

async function metric(gw, name, labels) {
  return metricValue(await scrapeMetrics(gw.url), name, labels);
}

// ---- PostgreSQL ----------------------------------------------------------------------------

const lit = (text) => `'${String(text).replace(/'/g, "''")}'`;

// Runs `query` with psql against `url`; stdout, trimmed (-A: fields joined by '|', -t: rows only).
async function sql(query, url = stack().NILECARE_PG_URL) {
  if (!PSQL) throw new Error(`psql is not installed (looked for /usr/bin/psql and ${PG_BIN}/psql)`);
  const res = await runCommand(PSQL, [url, '-XAtqw', '-v', 'ON_ERROR_STOP=1', '-c', query], {
    timeout: kStepMs, env: { PGCONNECT_TIMEOUT: '5' },
  });
  if (res.code !== 0) throw new Error(`psql failed (exit ${res.code}): ${res.stderr.trim()}\n  query: ${query}`);
  return res.stdout.trim();
}

async function waitSql(query, expected, { url, timeout = kStepMs, message } = {}) {
  let last;
  try {
    await waitFor(async () => (last = await sql(query, url)) === expected,
                  { timeout, interval: 200, message: message ?? `${query} -> ${expected}` });
  } catch (err) {
    err.message += ` (last result: ${JSON.stringify(last)})`;
    throw err;
  }
  return last;
}

const iso = (column) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

// ---- devices (MQTT) and clinicians (Socket.IO) -------------------------------------------------

async function deviceClient(scope, opts = {}, url = stack().NILECARE_MQTT_URL) {
  const client = mqtt.connect(url, {
    clientId: unique('nc-device'), clean: true, reconnectPeriod: 0, connectTimeout: kStepMs, ...opts,
  });
  scope.defer(() => client.endAsync(true).catch(() => {}));
  await withTimeout(new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  }), kStepMs, `mqtt connect to ${url}`);
  client.on('error', () => {});  // a test that cares looks at 'close' or at its publishes
  return client;
}

// QoS 1: resolves on the broker's PUBACK.
async function publish(client, topic, payload, opts = {}) {
  const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
  return withTimeout(client.publishAsync(topic, body, { qos: 1, ...opts }), kStepMs, `publish ${topic}`);
}

// Publishes count messages at `rate` per second (payload(i) for i = 1..count) without waiting
// for each PUBACK. state.sent / state.acked count; state.done resolves when every PUBACK
// arrived (rejects naming the first failure).
function pacedPublisher(client, { count, rate, topic, payload }) {
  const state = { sent: 0, acked: 0, errors: [] };
  const started = Date.now();
  const inFlight = new Set();
  state.done = (async () => {
    while (state.sent < count) {
      const due = Math.min(count, Math.floor(((Date.now() - started) * rate) / 1000) + 1);
      while (state.sent < due) {
        const i = ++state.sent;
        const p = client.publishAsync(topic, JSON.stringify(payload(i)), { qos: 1 })
          .then(() => { state.acked += 1; }, (err) => { state.errors.push(err); });
        inFlight.add(p);
        p.then(() => inFlight.delete(p));
      }
      await new Promise((resolve) => setTimeout(resolve, 5));  // pacing, not waiting
    }
    await Promise.all(inFlight);
    if (state.errors.length) throw new Error(`${state.errors.length} publishes failed: ${state.errors[0].message}`);
    return state;
  })();
  state.done.catch(() => {});  // awaited by the test; never an unhandled rejection
  return state;
}

function token(sub, role) {
  return mintToken({ sub, role });
}


async function clinician(scope, gw, role = 'nurse') {
  const sub = unique(role);
  const socket = await connectClient(gw.url, {
    auth: { token: token(sub, role) }, transports: ['websocket'],
  }, { timeout: kStepMs });
  scope.defer(() => socket.close());
  return { socket, sub, events: recordEvents(socket) };
}

async function subscribe(socket, patient) {
  const reply = await socket.timeout(kStepMs).emitWithAck('subscribe:patient', patient);
  assert.deepEqual(reply, { success: true, room: `patient:${patient}` });
}

async function waitEvent(events, predicate, what, timeout = kStepMs) {
  return waitFor(() => events.find(predicate), { timeout, message: what });
}

const eventsOf = (events, name, deviceId) =>
  events.filter((e) => e.event === name && e.args[0]?.device_id === deviceId);

// ISO 8601 UTC with microseconds: the millisecond time `ms` plus `micros` (0-999) more.
function isoMicros(ms, micros) {
  return `${new Date(ms).toISOString().slice(0, -1)}${String(micros).padStart(3, '0')}Z`;
}

const api = (gw, pathname, { token: bearer, ...opts } = {}) => requestJson(`${gw.url}${pathname}`, {
  timeout: kStepMs, ...opts, headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
});

function assertError(res, status, code, what) {
  assert.equal(res.status, status, `${what}: ${res.text}`);
  assert.equal(res.body?.success, false, `${what}: envelope success=false: ${res.text}`);
  if (code) assert.equal(res.body?.error?.code, code, `${what}: error.code: ${res.text}`);
}

// ---- 1. reading -> vitals:update + row ---------------------------------------------------------

test('a reading is pushed as vitals:update and stored in device_vitals', { timeout: kTestMs }, () =>
  scoped(async (scope) => {
    const gw = await freshGateway(scope);
    const deviceId = unique('dev');
    const patientId = unique('P');
    const nurse = await clinician(scope, gw, 'nurse');
    await subscribe(nurse.socket, patientId);
    const device = await deviceClient(scope);

    const timestamp = isoMicros(Date.now() - 5_000, 457);
    await publish(device, `devices/${deviceId}/vitals`, {
      patient_id: patientId, hr: 72, spo2: 97.5, temp: 36.75, bp: '118/76', timestamp, seq: 42,
    });

    const update = await waitEvent(nurse.events, (e) => e.event === 'vitals:update' &&
      e.args[0]?.device_id === deviceId, 'vitals:update for the reading');
    assert.deepEqual(update.args[0], {
      patient_id: patientId, device_id: deviceId, hr: 72, spo2: 97.5, temp: 36.75, bp: '118/76',
      timestamp, seq: 42,
    });

    const row = await waitFor(async () => await sql(
      `SELECT patient_id, ${iso('ts')}, seq, hr, spo2, temp, bp_systolic, bp_diastolic, device_time,
              received_at <= stored_at
       FROM device_vitals WHERE device_id = ${lit(deviceId)}`), {
      timeout: kStepMs, interval: 200, message: 'device_vitals row' });
    assert.equal(row, `${patientId}|${timestamp}|42|72|97.5|36.75|118|76|t|t`);
    assert.equal(eventsOf(nurse.events, 'vitals:update', deviceId).length, 1);
    assert.equal(await metric(gw, 'nilecare_vitals_rows_written_total') >= 1, true);
  }));

// ---- 2. thresholds -----------------------------------------------------------------------------

test('hr above the threshold raises exactly one alert:critical until re-armed', { timeout: kTestMs }, () =>
  scoped(async (scope) => {
    // A topic root of this run's own: device_alerts is counted, and any other gateway on the
    // shared broker would store an alert of its own (with its own id) for the same readings.
    const root = isolatedRoot();
    const gw = await freshGateway(scope, { mqtt: { topic_root: root },
      thresholds: { hr: { low: 40, high: 120 }, rearm: '1m' } });
    const deviceId = unique('dev');
    const patientId = unique('P');
    // The nurse gets the alert through patient:{id} and role:nurse, the doctor through
    // patient:{id} and role:doctor: once each.
    const nurse = await clinician(scope, gw, 'nurse');
    const doctor = await clinician(scope, gw, 'doctor');
    await subscribe(nurse.socket, patientId);
    await subscribe(doctor.socket, patientId);
    const device = await deviceClient(scope);

    const base = Date.now() - 60_000;
    const reading = (seq, hr) => ({ patient_id: patientId, hr, spo2: 97, temp: 36.5,
      timestamp: isoMicros(base + seq * 1_000, 7), seq });
    for (let seq = 1; seq <= 3; ++seq) await publish(device, `${root}/${deviceId}/vitals`, reading(seq, 150));
    // A normal reading last: a connection gets room packets in emission order, and an alert is
    // emitted after its reading's vitals:update, so once seq 4 has arrived every alert of
    // seq 1-3 has too.
    await publish(device, `${root}/${deviceId}/vitals`, reading(4, 80));

    for (const who of [nurse, doctor]) {
      await waitEvent(who.events, (e) => e.event === 'vitals:update' && e.args[0]?.device_id === deviceId &&
        e.args[0]?.seq === 4, `vitals:update seq 4 (${who.sub})`);
      assert.deepEqual(eventsOf(who.events, 'vitals:update', deviceId).map((e) => e.args[0].seq), [1, 2, 3, 4]);
    }
    const alerts = eventsOf(nurse.events, 'alert:critical', deviceId);
    assert.equal(alerts.length, 1, `alert:critical to the nurse: ${JSON.stringify(alerts.map((e) => e.args[0]))}`);
    const alert = alerts[0].args[0];
    assert.equal(alert.alert_type, 'HR_ABNORMAL');
    assert.equal(alert.value, 150);
    assert.equal(alert.threshold, 120);
    assert.equal(alert.severity, 'critical');
    assert.equal(alert.patient_id, patientId);
    assert.equal(alert.device_id, deviceId);
    assert.equal(alert.timestamp, reading(1, 150).timestamp, 'the first breaching reading alerted');
    assert.match(alert.alert_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(typeof alerts[0].ack, 'function', 'alert:critical asks for an acknowledgement');
    alerts[0].ack({ received: true });

    const doctorAlerts = eventsOf(doctor.events, 'alert:critical', deviceId);
    assert.equal(doctorAlerts.length, 1, 'alert:critical to the doctor');
    assert.equal(doctorAlerts[0].args[0].alert_id, alert.alert_id);

    await waitSql(`SELECT id, alert_type, severity, value, patient_id FROM device_alerts
                   WHERE device_id = ${lit(deviceId)}`,
                  `${alert.alert_id}|HR_ABNORMAL|critical|150|${patientId}`,
                  { message: 'exactly one device_alerts row, id = alert_id' });
    await waitSql(`SELECT count(*) FROM device_vitals WHERE device_id = ${lit(deviceId)}`, '4');
    assert.equal(await metric(gw, 'nilecare_vitals_threshold_alerts_total'), 1);
  }));

// ---- 3. device mapping and the device REST API -------------------------------------------------

test('a mapped device routes readings to its patient; the device REST API', { timeout: kTestMs }, () =>
  scoped(async (scope) => {
    // A topic root of this run's own: another gateway on the shared broker would store these
    // readings too, with no patient (the mapping lives in the gateway that took the PUT until
    // the others re-read the devices table), and its row would win the dedupe.
    const root = isolatedRoot();
    const gw = await freshGateway(scope, { mqtt: { topic_root: root } });
    const deviceId = unique('dev');
    const patientId = unique('P');
    const nurseToken = token(unique('nurse'), 'nurse');
    const doctorToken = token(unique('doctor'), 'doctor');
    const billingToken = token(unique('billing'), 'billing');
    const devicePath = `/api/v1/devices/${deviceId}`;

    const put = await api(gw, devicePath, { method: 'PUT', token: nurseToken,
      body: { patient_id: patientId, label: 'Bed 7 monitor' } });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.body.success, true);
    assert.equal(put.body.data.device_id, deviceId);
    assert.equal(put.body.data.patient_id, patientId);
    assert.equal(put.body.data.label, 'Bed 7 monitor');

    const nurse = await clinician(scope, gw, 'nurse');
    await subscribe(nurse.socket, patientId);
    const device = await deviceClient(scope);
    const base = Date.now() - 120_000;
    const stamps = [];
    for (let seq = 1; seq <= 5; ++seq) {
      stamps[seq] = isoMicros(base + seq * 1_000, 123 + seq);
      // No patient_id: the gateway takes it from the mapping.
      await publish(device, `${root}/${deviceId}/vitals`,
                    { hr: 70 + seq, spo2: 96, temp: 36.5, timestamp: stamps[seq], seq });
    }
    await waitEvent(nurse.events, (e) => e.event === 'vitals:update' && e.args[0]?.device_id === deviceId &&
      e.args[0]?.seq === 5, 'vitals:update seq 5 in the mapped patient\'s room');
    const updates = eventsOf(nurse.events, 'vitals:update', deviceId).map((e) => e.args[0]);
    assert.deepEqual(updates.map((u) => u.seq), [1, 2, 3, 4, 5]);
    for (const u of updates) assert.equal(u.patient_id, patientId);
    await waitSql(`SELECT count(*) FILTER (WHERE patient_id = ${lit(patientId)}), count(*)
                   FROM device_vitals WHERE device_id = ${lit(deviceId)}`, '5|5',
                  { message: '5 rows stored with the mapped patient_id' });

    const got = await api(gw, devicePath, { token: doctorToken });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.success, true);
    assert.deepEqual({ ...got.body.data, updated_at: undefined }, {
      device_id: deviceId, patient_id: patientId, label: 'Bed 7 monitor', status: null, status_at: null,
      updated_at: undefined,
    });
    assert.match(got.body.data.updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);

    const limited = await api(gw, `${devicePath}/vitals?limit=2`, { token: nurseToken });
    assert.equal(limited.status, 200, limited.text);
    assert.equal(limited.body.data.count, 2);
    assert.deepEqual(limited.body.data.items.map((i) => i.seq), [5, 4], 'newest first');
    const newest = limited.body.data.items[0];
    assert.equal(newest.patient_id, patientId);
    assert.equal(newest.device_id, deviceId);
    assert.equal(newest.hr, 75);
    assert.equal(newest.timestamp, stamps[5]);
    assert.equal(newest.device_time, true);

    const window = await api(gw, `${devicePath}/vitals?from=${encodeURIComponent(stamps[2])}` +
                                 `&to=${encodeURIComponent(stamps[4])}`, { token: nurseToken });
    assert.equal(window.status, 200, window.text);
    assert.deepEqual(window.body.data.items.map((i) => i.seq), [4, 3, 2], 'from/to are inclusive');
    const all = await api(gw, `${devicePath}/vitals`, { token: doctorToken });
    assert.equal(all.status, 200, all.text);
    assert.equal(all.body.data.count, 5);

    const latest = await api(gw, `/api/v1/patients/${patientId}/vitals/latest`, { token: nurseToken });
    assert.equal(latest.status, 200, latest.text);
    assert.equal(latest.body.data.seq, 5);
    assert.equal(latest.body.data.timestamp, stamps[5]);
    assert.equal(latest.body.data.device_id, deviceId);
    assert.equal(latest.body.data.patient_id, patientId);

    // Authentication and roles.
    const reads = [devicePath, `${devicePath}/vitals`, `/api/v1/patients/${patientId}/vitals/latest`];
    for (const p of reads) {
      assertError(await api(gw, p), 401, 'UNAUTHORIZED', `GET ${p} without a token`);
      assertError(await api(gw, p, { token: 'not.a.jwt' }), 401, 'UNAUTHORIZED', `GET ${p} with a bad token`);
      assertError(await api(gw, p, { token: billingToken }), 403, 'FORBIDDEN', `GET ${p} as billing`);
    }
    assertError(await api(gw, devicePath, { method: 'PUT', body: { patient_id: patientId } }),
                401, 'UNAUTHORIZED', 'PUT without a token');
    assertError(await api(gw, devicePath, { method: 'PUT', token: billingToken, body: { patient_id: patientId } }),
                403, 'FORBIDDEN', 'PUT as billing');
    assertError(await api(gw, devicePath, { method: 'PUT', token: doctorToken, body: { patient_id: patientId } }),
                403, 'FORBIDDEN', 'PUT as doctor (write_roles: nurse, admin)');

    // Validation.
    const longId = 'd'.repeat(65);
    for (const p of [`/api/v1/devices/${longId}`, '/api/v1/devices/bad!id', `/api/v1/devices/${longId}/vitals`,
      '/api/v1/patients/bad!id/vitals/latest', `/api/v1/patients/${'p'.repeat(65)}/vitals/latest`]) {
      assertError(await api(gw, p, { token: nurseToken }), 400, 'VALIDATION_ERROR', `GET ${p}`);
    }
    for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'limit=-1', 'limit=2.5', 'from=yesterday',
      'to=2026-01-01T00:00:00', 'from=2026-13-01T00:00:00Z']) {
      assertError(await api(gw, `${devicePath}/vitals?${q}`, { token: nurseToken }), 400, 'VALIDATION_ERROR',
                  `GET vitals?${q}`);
    }
    for (const body of ['not json', '[]', '{}', { patient_id: 'bad id!' }, { patient_id: 5 },
      { patient_id: patientId, label: 'x'.repeat(201) }]) {
      assertError(await api(gw, devicePath, { method: 'PUT', token: nurseToken, body }), 400, 'VALIDATION_ERROR',
                  `PUT ${JSON.stringify(body)}`);
    }
    assertError(await api(gw, `/api/v1/devices/${unique('unknown')}`, { token: nurseToken }), 404, null,
                'GET an unknown device');
    assertError(await api(gw, `/api/v1/patients/${unique('P')}/vitals/latest`, { token: nurseToken }), 404, null,
                'latest for a patient without readings');
    // The rejected PUTs changed nothing.
    assert.equal(await sql(`SELECT patient_id || '|' || label FROM devices WHERE device_id = ${lit(deviceId)}`),
                 `${patientId}|Bed 7 monitor`);
  }));

// ---- 4. status and last will -------------------------------------------------------------------

test('device status: retained online, then the last will says offline', { timeout: kTestMs }, () =>
  scoped(async (scope) => {
    const gw = await freshGateway(scope);
    const deviceId = unique('dev');
    const statusTopic = `devices/${deviceId}/status`;
    const nurse = await clinician(scope, gw, 'nurse');
    // Leave no retained status behind in the shared broker (runs before the gateway stops).
    scope.defer(async () => {
      const cleaner = await deviceClient({ defer: () => {} });
      try { await publish(cleaner, statusTopic, '', { retain: true }); } finally { await cleaner.endAsync(true); }
    });

    const device = await deviceClient(scope, {
      will: { topic: statusTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
      keepalive: 5,
    });
    await publish(device, statusTopic, 'online', { retain: true });
    const online = await waitEvent(nurse.events, (e) => e.event === 'device:status' &&
      e.args[0]?.device_id === deviceId, 'device:status online');
    assert.equal(online.args[0].status, 'online');
    await waitSql(`SELECT status FROM device_status WHERE device_id = ${lit(deviceId)}`, 'online');

    // An abrupt end of the TCP connection (no DISCONNECT): the broker publishes the will.
    const closed = new Promise((resolve) => device.once('close', resolve));
    device.stream.destroy();
    await withTimeout(closed, kStepMs, 'device connection closed');
    const offline = await waitEvent(nurse.events, (e) => e.event === 'device:status' &&
      e.args[0]?.device_id === deviceId && e.args[0]?.status === 'offline', 'device:status offline (last will)');
    assert.match(offline.args[0].timestamp, /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(eventsOf(nurse.events, 'device:status', deviceId).map((e) => e.args[0].status),
                     ['online', 'offline']);
    await waitSql(`SELECT status FROM device_status WHERE device_id = ${lit(deviceId)}`, 'offline');
    assert.equal(await metric(gw, 'nilecare_mqtt_messages_accepted_total', { kind: 'status' }) >= 2, true);
  }));

// ---- 5. commands -------------------------------------------------------------------------------

test('POST /api/v1/devices/{id}/commands reaches the device after the broker PUBACK', { timeout: kTestMs }, () =>
  scoped(async (scope) => {
    const gw = await freshGateway(scope);
    const deviceId = unique('dev');
    const commandsPath = `/api/v1/devices/${deviceId}/commands`;
    const nurseSub = unique('nurse');
    const nurseToken = token(nurseSub, 'nurse');
    const device = await deviceClient(scope);
    const received = [];
    device.on('message', (topic, message, packet) => {
      if (topic === `devices/${deviceId}/commands`) received.push({ message: message.toString(), packet });
    });
    await withTimeout(device.subscribeAsync(`devices/${deviceId}/commands`, { qos: 1 }), kStepMs, 'subscribe');

    const params = { interval_s: 5, leads: ['I', 'II'], alarm: { hr_high: 130 } };
    const res = await api(gw, commandsPath, { method: 'POST', token: nurseToken,
      body: { command: 'set_interval', params } });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.success, true);
    const commandId = res.body.data.command_id;
    assert.match(commandId, /^[0-9a-f-]{36}$/);
    await waitFor(() => received.length >= 1, { timeout: kStepMs, message: 'command delivered to the device' });
    const command = JSON.parse(received[0].message);
    assert.equal(command.command_id, commandId);
    assert.equal(command.command, 'set_interval');
    assert.deepEqual(command.params, params);
    assert.equal(command.issued_by, nurseSub);
    assert.equal(received[0].packet.qos, 1);

    assertError(await api(gw, commandsPath, { method: 'POST', token: token(unique('doctor'), 'doctor'),
      body: { command: 'reboot' } }), 403, 'FORBIDDEN', 'a doctor may not send commands');
    assertError(await api(gw, commandsPath, { method: 'POST', body: { command: 'reboot' } }),
                401, 'UNAUTHORIZED', 'no token');
    for (const body of ['not json', '[]', '{}', { command: '' }, { command: 5 }, { command: 'x'.repeat(65) },
      { command: 'reboot', params: [1, 2] }, { command: 'reboot', params: 'now' }]) {
      assertError(await api(gw, commandsPath, { method: 'POST', token: nurseToken, body }), 400, 'VALIDATION_ERROR',
                  `POST ${JSON.stringify(body)}`);
    }
    assertError(await api(gw, '/api/v1/devices/bad!id/commands', { method: 'POST', token: nurseToken,
      body: { command: 'reboot' } }), 400, 'VALIDATION_ERROR', 'bad device id');

    // A last valid command: the device sees it next, so none of the refused ones was published.
    const last = await api(gw, commandsPath, { method: 'POST', token: nurseToken, body: { command: 'ping' } });
    assert.equal(last.status, 202, last.text);
    await waitFor(() => received.length >= 2, { timeout: kStepMs, message: 'second command delivered' });
    const second = JSON.parse(received[1].message);
    assert.equal(second.command_id, last.body.data.command_id);
    assert.equal(second.command, 'ping');
    assert.deepEqual(second.params, {});
    assert.equal(received.length, 2, 'refused commands were not published');
    assert.equal(await metric(gw, 'nilecare_device_commands_total'), 2);
  }));

// ---- 6. malformed flood ------------------------------------------------------------------------

test('10,000 malformed messages are all rejected, counted and kept; the gateway stays healthy',
     { timeout: kSlowTestMs }, () => scoped(async (scope) => {
  // A topic root of this run's own: vitals_rejects is counted, and any other gateway on the
  // shared broker would keep a copy of every rejected message.
  const root = isolatedRoot();
  const gw = await freshGateway(scope, { mqtt: { topic_root: root } });
  const prefix = unique('fz');
  const okDevice = `${prefix}-ok`;
  // 10,000 rows per run in the shared database: removed when the test passed (kept to look at
  // when it failed). Runs after the gateway stopped.
  scope.defer(async () => {
    if (!scope.failed) await sql(`DELETE FROM vitals_rejects WHERE device_id LIKE ${lit(`${prefix}-%`)}`);
  });
  const device = await deviceClient(scope);
  const now = Date.now();
  const valid = (seq) => ({ hr: 80, spo2: 98, temp: 36.6, timestamp: isoMicros(now - 10_000 + seq, 0), seq });

  // A valid reading first: once it is accepted, whatever the broker had for the new session
  // (retained status messages) has been handled, so the rejected count starts from here.
  await publish(device, `${root}/${okDevice}/vitals`, valid(1));
  await waitFor(async () => (await metric(gw, 'nilecare_mqtt_messages_accepted_total', { kind: 'vitals' })) >= 1,
                { timeout: kStepMs, message: 'first valid reading accepted' });
  const rejectedBefore = await metric(gw, 'nilecare_mqtt_messages_rejected_total');

  const huge = JSON.stringify({ hr: 80, spo2: 98, temp: 36.6, pad: 'x'.repeat(5000) });
  const kinds = [
    // [topic kind, reason, payload(i)]
    ['vitals', 'not_json', (i) => `garbage text #${i} \u00e9\u00e8`],
    ['vitals', 'not_json', (i) => `{"hr": ${i % 200}, "spo2": `],
    ['vitals', 'not_json', () => ''],
    ['vitals', 'not_json', (i) => Buffer.concat([Buffer.from([0xff, 0x00, 0xfe]), crypto.randomBytes(32 + (i % 200))])],
    ['vitals', 'not_object', (i) => `[${i}, 98, 36.6]`],
    ['vitals', 'hr_out_of_range', (i) => ({ hr: 351 + i, spo2: 98, temp: 36.6 })],
    ['vitals', 'spo2_out_of_range', () => ({ hr: 80, spo2: 101, temp: 36.6 })],
    ['vitals', 'temp_out_of_range', () => ({ hr: 80, spo2: 98, temp: -5 })],
    ['vitals', 'hr_not_number', () => ({ hr: 'eighty', spo2: 98, temp: 36.6 })],
    ['vitals', 'temp_missing', () => ({ hr: 80, spo2: 98 })],
    ['vitals', 'bp_invalid', () => ({ hr: 80, spo2: 98, temp: 36.6, bp: 'high' })],
    ['vitals', 'seq_invalid', () => ({ hr: 80, spo2: 98, temp: 36.6, seq: -1 })],
    ['vitals', 'timestamp_in_future', () => ({ hr: 80, spo2: 98, temp: 36.6, timestamp: new Date(now + 3_600_000).toISOString() })],
    ['vitals', 'patient_id_invalid', () => ({ hr: 80, spo2: 98, temp: 36.6, patient_id: 'no spaces allowed' })],
    ['vitals', 'too_large', () => huge],
    ['alerts', 'alert_type_missing', () => ({ severity: 'critical', value: 1 })],
    ['alerts', 'too_large', () => huge],
    ['status', 'status_invalid', () => 'ONLINE!!'],
  ];
  const kTotal = 10_000;
  const kDevices = 10;
  const expected = new Map();  // "kind|reason" -> count
  const messages = [];
  for (let i = 0; i < kTotal; ++i) {
    const [kind, reason, make] = kinds[i % kinds.length];
    const payload = make(i);
    messages.push({
      topic: `${root}/${prefix}-${i % kDevices}/${kind}`,
      body: typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload),
    });
    expected.set(`${kind}|${reason}`, (expected.get(`${kind}|${reason}`) ?? 0) + 1);
  }
  assert.ok(messages.some((m) => m.body.length > 4096), 'the mix has payloads over max_payload');

  // QoS 1, at most 200 unacknowledged at a time.
  let next = 0;
  let acked = 0;
  const worker = async () => {
    while (next < messages.length) {
      const { topic, body } = messages[next++];
      await device.publishAsync(topic, body, { qos: 1 });
      acked += 1;
    }
  };
  await withTimeout(Promise.all(Array.from({ length: 200 }, worker)), 120_000, 'publishing 10,000 messages');
  assert.equal(acked, kTotal);

  let rejected;
  await waitFor(async () => (rejected = (await metric(gw, 'nilecare_mqtt_messages_rejected_total')) - rejectedBefore) >= kTotal,
                { timeout: 120_000, interval: 200, message: `rejected_total grows by ${kTotal}` })
    .catch((err) => { err.message += ` (rejected so far: ${rejected})`; throw err; });
  const res = await requestJson(`${gw.url}/health`, { timeout: 5_000 });
  assert.equal(res.status, 200);
  assert.equal(res.body.data.components.mqtt.state, 'up', JSON.stringify(res.body.data.components.mqtt));
  assert.equal(gw.proc.exitCode, null, 'gateway process alive');
  assert.equal(gw.proc.signalCode, null, 'gateway process alive');

  const byReason = await waitSql(
    `SELECT count(*) FROM vitals_rejects WHERE device_id LIKE ${lit(`${prefix}-%`)}`, String(kTotal),
    { timeout: 120_000, message: `${kTotal} vitals_rejects rows` });
  assert.equal(byReason, String(kTotal));
  const rows = await sql(`SELECT topic_kind || '|' || reason || '=' || count(*) FROM vitals_rejects
                          WHERE device_id LIKE ${lit(`${prefix}-%`)} GROUP BY topic_kind, reason`);
  const expectedRows = [...expected.entries()].map(([k, n]) => `${k}=${n}`).sort();
  assert.deepEqual(rows.split('\n').sort(), expectedRows, 'rejections by kind and reason');
  const metrics = await scrapeMetrics(gw.url);
  for (const [key, n] of expected) {
    const [kind, reason] = key.split('|');
    assert.equal(metricValue(metrics, 'nilecare_mqtt_messages_rejected_total', { kind, reason }), n,
                 `rejected_total{kind=${kind},reason=${reason}}`);
  }
  // Oversized payloads are kept truncated to max_payload, with their real size.
  assert.equal(await sql(`SELECT DISTINCT octet_length(payload) || '|' || payload_size FROM vitals_rejects
                          WHERE device_id LIKE ${lit(`${prefix}-%`)} AND reason = 'too_large'`),
               `4096|${huge.length}`);
  // A binary payload is kept byte for byte.
  const blobIndex = kinds.findIndex(([, , make]) => Buffer.isBuffer(make(0)));
  const blob = messages[blobIndex].body;
  assert.equal(await sql(`SELECT count(*) FROM vitals_rejects WHERE device_id = ${lit(`${prefix}-${blobIndex % kDevices}`)}
                          AND payload = decode(${lit(blob.toString('hex'))}, 'hex')`), '1');

  // Still ingesting valid readings.
  await publish(device, `${root}/${okDevice}/vitals`, valid(2));
  await waitSql(`SELECT count(*) FROM device_vitals WHERE device_id = ${lit(okDevice)}`, '2',
                { message: 'valid readings before and after the flood stored' });
  assert.equal(await metric(gw, 'nilecare_mqtt_messages_accepted_total', { kind: 'vitals' }) >= 2, true);
  assert.equal(await metric(gw, 'nilecare_mqtt_messages_rejected_total') - rejectedBefore, kTotal,
               'exactly 10,000 rejections');
  assert.equal(rejectedBefore, 0, 'no rejection before the flood (a fresh gateway on a fresh topic root)');
}));

// ---- 7. kill -9 and restart --------------------------------------------------------------------

test('kill -9 mid-stream and a restart lose no reading and store none twice', { timeout: kSlowTestMs }, (t) =>
  scoped(async (scope) => {
    // A batch collects rows for 2 s. The kill comes ~100 readings after the first batch was
    // committed, well inside the second one's 2 s: readings that were acknowledged to the
    // broker (journaled) but not stored yet, which the restart must replay. A topic root of this run's own, so that no other gateway on the shared broker stores the
    // readings while this one is dead.
    const root = isolatedRoot();
    const config = vitalsConfig({ clientId: gatewayClientId(scope), journalDir: tempDir(scope, 'nc-journal-'),
      mqtt: { topic_root: root, batch_max_delay: '2s' } });
    const deviceId = unique('dev');
    scope.defer(async () => {
      if (!scope.failed) await sql(`DELETE FROM device_vitals WHERE device_id = ${lit(deviceId)}`);
    });
    const gw1 = await gateway(scope, config);
    const device = await deviceClient(scope);
    const N = 3_000;
    const base = Date.now() - 60_000;
    const publisher = pacedPublisher(device, {
      count: N, rate: 500, topic: `${root}/${deviceId}/vitals`,
      payload: (seq) => ({ hr: 60 + (seq % 50), spo2: 97, temp: 36.6, timestamp: isoMicros(base + seq, seq % 1000), seq }),
    });
    const count = () => sql(`SELECT count(*) FROM device_vitals WHERE device_id = ${lit(deviceId)}`).then(Number);

    await waitFor(async () => (await count()) > 0, { timeout: kStepMs, interval: 100,
      message: 'the first gateway stored readings' });
    const sentAtFirstRows = publisher.sent;
    await waitFor(() => publisher.sent >= sentAtFirstRows + 100, { timeout: kStepMs, message: '100 more published' });
    await waitFor(async () => (await metric(gw1, 'nilecare_mqtt_journal_pending_entries')) > 0,
                  { timeout: kStepMs, message: 'journal entries waiting for the next batch' });
    gw1.killed = true;
    gw1.proc.kill('SIGKILL');
    const exit = await withTimeout(gw1.exited, kStepMs, 'gateway SIGKILL');
    assert.equal(exit.signal, 'SIGKILL');
    const atKill = await count();
    const sentAtKill = publisher.sent;
    assert.ok(atKill > 0 && atKill < N, `killed mid-stream (${atKill} rows at the kill)`);

    // The publisher goes on; the broker queues for the gateway's persistent session.
    await waitFor(() => publisher.sent >= Math.min(N, sentAtKill + N / 6), { timeout: kStepMs,
      message: 'publishing went on while the gateway was down' });
    const gw2 = await gateway(scope, config);
    const opened = gw2.logs.map((line) => { try { return JSON.parse(line); } catch { return {}; } })
      .find((entry) => entry.msg === 'mqtt journal opened');
    assert.ok(opened, 'the restarted gateway logs "mqtt journal opened"');
    assert.ok(opened.pending_entries > 0,
              `the journal held acknowledged readings not yet stored at the kill (${opened.pending_entries})`);
    await withTimeout(publisher.done, 120_000, 'every PUBACK from the broker');
    assert.equal(publisher.acked, N);

    let last;
    await waitFor(async () => (last = await count()) >= N, { timeout: 120_000, interval: 250,
      message: `${N} rows for the device` }).catch((err) => { err.message += ` (last ${last})`; throw err; });
    assert.equal(await sql(`SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM device_vitals
                            WHERE device_id = ${lit(deviceId)}`), `${N}|${N}|1|${N}`);
    await waitMqttState(gw2, 'up');
    t.diagnostic(`${atKill} rows at the kill (after ${sentAtKill} sent); ${opened.pending_entries} journal ` +
      `entries replayed; the restarted gateway wrote ` +
      `${await metric(gw2, 'nilecare_vitals_rows_written_total')} rows and skipped ` +
      `${await metric(gw2, 'nilecare_vitals_duplicates_total')} duplicates`);
  }));

// ---- 8. PostgreSQL outage ----------------------------------------------------------------------

// A PostgreSQL 15 of the test's own (initdb + pg_ctl, as in scripts/stack.sh launch_pg/wait_pg),
// on a free port, with role and database nilecare. Stopped and deleted at the end of the test.
async function privatePostgres(scope) {
  for (const tool of ['initdb', 'pg_ctl', 'psql']) {
    if (!existsSync(`${PG_BIN}/${tool}`)) throw new Error(`${PG_BIN}/${tool} is missing: PostgreSQL 15 is not installed`);
  }
  const isRoot = process.getuid?.() === 0;
  const root = tempDir(scope, 'nc-pg-');
  const data = path.join(root, 'data');
  const sock = path.join(root, 'run');
  const log = path.join(root, 'postgres.log');
  mkdirSync(sock);
  if (isRoot) {
    // PostgreSQL refuses to run as root: the cluster belongs to `postgres`.
    const ids = await runCommand('id', ['-u', 'postgres']);
    const gids = await runCommand('id', ['-g', 'postgres']);
    if (ids.code !== 0) throw new Error('running as root, but there is no `postgres` user to run PostgreSQL as');
    for (const dir of [root, sock]) chownSync(dir, Number(ids.stdout), Number(gids.stdout));
  }
  const asPostgres = (file, args, opts = {}) => (isRoot
    ? runCommand('runuser', ['-u', 'postgres', '--', file, ...args], { cwd: '/', ...opts })
    : runCommand(file, args, { cwd: '/', ...opts }));
  const check = (res, what) => {
    if (res.code !== 0) {
      let serverLog = '';
      try { serverLog = readFileSync(log, 'utf8').slice(-4000); } catch { /* none yet */ }
      throw new Error(`${what} failed (exit ${res.code}): ${res.stdout}${res.stderr}\n${serverLog}`);
    }
    return res;
  };
  check(await asPostgres(`${PG_BIN}/initdb`, ['-D', data, '--username=postgres', '--auth-local=trust',
    '--auth-host=scram-sha-256', '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync'], { timeout: 120_000 }), 'initdb');

  const pg = { port: 0, url: '', running: false };
  pg.start = async () => {
    const res = await asPostgres(`${PG_BIN}/pg_ctl`, ['-D', data, '-l', log, '-w', '-t', '60', '-o',
      `-p ${pg.port} -k ${sock} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'], { timeout: 90_000 });
    pg.running = true;  // even a failed start may leave a postmaster to stop
    return check(res, `pg_ctl start (port ${pg.port})`);
  };
  // -m immediate: no shutdown checkpoint, connections cut, crash recovery at the next start.
  pg.stop = async (mode = 'immediate') => {
    const res = await asPostgres(`${PG_BIN}/pg_ctl`, ['-D', data, '-m', mode, '-w', '-t', '60', 'stop'],
                                 { timeout: 90_000 });
    pg.running = false;
    return check(res, 'pg_ctl stop');
  };
  scope.defer(async () => { if (pg.running) await pg.stop().catch(() => {}); });
  for (let attempt = 1; ; ++attempt) {
    pg.port = await freePort();
    try {
      await pg.start();
      break;
    } catch (err) {
      if (attempt >= 3) throw err;  // another process may have taken the port: try another
      await pg.stop().catch(() => {});
    }
  }
  check(await asPostgres(`${PG_BIN}/psql`, ['-h', sock, '-p', String(pg.port), '-U', 'postgres', '-d', 'postgres',
    '-XAtq', '-v', 'ON_ERROR_STOP=1',
    '-c', "CREATE ROLE nilecare LOGIN PASSWORD 'nilecare'",
    '-c', 'CREATE DATABASE nilecare OWNER nilecare'], { timeout: kStepMs }), 'creating role/database nilecare');
  pg.url = `postgres://nilecare:nilecare@127.0.0.1:${pg.port}/nilecare`;
  return pg;
}

test('PostgreSQL down for 10 s mid-stream: no reading lost or doubled, health degraded then up',
     { timeout: kSlowTestMs }, (t) => scoped(async (scope) => {
  const pg = await privatePostgres(scope);
  const root = isolatedRoot();
  const gw = await freshGateway(scope, { pgUrl: pg.url, mqtt: { topic_root: root } });
  const deviceId = unique('dev');
  const device = await deviceClient(scope);
  const N = 3_000;
  const kOutageMs = 10_000;
  const base = Date.now() - 60_000;
  const publisher = pacedPublisher(device, {
    count: N, rate: 150, topic: `${root}/${deviceId}/vitals`,
    payload: (seq) => ({ hr: 60 + (seq % 50), spo2: 97, temp: 36.6, timestamp: isoMicros(base + seq, 1), seq }),
  });
  const rows = (query) => sql(`SELECT ${query} FROM device_vitals WHERE device_id = ${lit(deviceId)}`, pg.url);

  await waitFor(() => publisher.sent >= N / 3, { timeout: kStepMs, message: 'a third published' });
  await waitFor(async () => Number(await rows('count(*)')) > 0, { timeout: kStepMs, interval: 200,
    message: 'readings stored before the outage' });
  const stoppedAt = Date.now();
  await pg.stop('immediate');
  const sentAtStop = publisher.sent;

  // During the outage: readings are still acknowledged (journaled), health says degraded.
  let seen;
  await waitFor(async () => {
    const mqttHealth = (await health(gw)).data.components.mqtt;
    const pending = await metric(gw, 'nilecare_mqtt_journal_pending_entries');
    const dbUp = await metric(gw, 'nilecare_database_up');
    seen = { mqttHealth, pending, dbUp };
    return mqttHealth.state === 'degraded' && pending > 0 && dbUp === 0;
  }, { timeout: kOutageMs + kStepMs, interval: 100, message: 'mqtt degraded, journal pending > 0, database_up 0' })
    .catch((err) => { err.message += ` (last: ${JSON.stringify(seen)})`; throw err; });
  assert.match(seen.mqttHealth.detail, /database unavailable/);
  const remaining = kOutageMs - (Date.now() - stoppedAt);
  if (remaining > 0) await new Promise((resolve) => setTimeout(resolve, remaining));  // the outage itself
  assert.ok(publisher.sent > sentAtStop, 'publishing went on during the outage');
  const pendingAtRestart = await metric(gw, 'nilecare_mqtt_journal_pending_entries');
  assert.ok(pendingAtRestart > 0, `journal holds the outage's readings (${pendingAtRestart})`);
  assert.equal((await health(gw)).data.components.mqtt.state, 'degraded', 'still degraded at the end of the outage');
  await pg.start();

  await withTimeout(publisher.done, 120_000, 'every PUBACK from the broker');
  assert.equal(publisher.acked, N);
  let last;
  await waitFor(async () => (last = Number(await rows('count(*)'))) >= N, { timeout: 120_000, interval: 250,
    message: `${N} rows for the device` }).catch((err) => { err.message += ` (last ${last})`; throw err; });
  assert.equal(await rows('count(*), count(DISTINCT seq), min(seq), max(seq)'), `${N}|${N}|1|${N}`);
  await waitMqttState(gw, 'up');
  await waitFor(async () => (await metric(gw, 'nilecare_mqtt_journal_pending_entries')) === 0,
                { timeout: kStepMs, message: 'journal drained' });
  assert.equal(await metric(gw, 'nilecare_database_up'), 1);
  t.diagnostic(`${pendingAtRestart} journal entries waited for PostgreSQL; degraded detail: ${seen.mqttHealth.detail}`);
}));

// ---- 9. shared subscription ----------------------------------------------------------------

test('two gateways with the same shared_group split the devices\' readings, each stored once',
  { timeout: kTestMs }, (t) => scoped(async (scope) => {
    const root = isolatedRoot();
    const group = `g${runId}${++counter}`;
    const shared = { topic_root: root, shared_group: group };
    const gwA = await freshGateway(scope, { mqtt: shared });
    const gwB = await freshGateway(scope, { mqtt: shared });
    const devices = Array.from({ length: 10 }, () => unique('shr'));
    scope.defer(async () => {
      if (!scope.failed) {
        await sql(`DELETE FROM device_vitals WHERE device_id IN (${devices.map(lit).join(',')})`);
      }
    });
    const client = await deviceClient(scope);
    const perDevice = 100;
    const base = Date.now() - 60_000;
    const publishes = [];
    for (let seq = 1; seq <= perDevice; ++seq) {
      for (const deviceId of devices) {
        publishes.push(publish(client, `${root}/${deviceId}/vitals`,
          { hr: 70, spo2: 97, temp: 36.7, timestamp: isoMicros(base + seq, 0), seq }));
      }
    }
    await withTimeout(Promise.all(publishes), 60_000, 'every PUBACK');
    const total = devices.length * perDevice;
    const inList = devices.map(lit).join(',');
    await waitSql(`SELECT count(*), count(DISTINCT (device_id, seq)) FROM device_vitals
                   WHERE device_id IN (${inList})`, `${total}|${total}`, { timeout: 60_000 });
    const a = await metric(gwA, 'nilecare_mqtt_messages_accepted_total', { kind: 'vitals' });
    const b = await metric(gwB, 'nilecare_mqtt_messages_accepted_total', { kind: 'vitals' });
    t.diagnostic(`gateway A took ${a} readings, gateway B ${b}`);
    assert.equal(a + b, total, 'the broker gave each reading to one gateway of the group');
    assert.ok(a > 0 && b > 0, `both gateways took a share (${a} / ${b})`);
  }));

// ---- 10. full journal ------------------------------------------------------------------------

test('a full journal makes ingest wait; SIGTERM then, and a restart with the database, lose nothing',
  { timeout: kSlowTestMs }, (t) => scoped(async (scope) => {
    const root = isolatedRoot();
    const clientId = gatewayClientId(scope);
    const journalDir = tempDir(scope, 'nc-journal-');
    // A database nobody listens on: the writer cannot drain, the 1 MiB journal fills.
    const deadPort = await freePort();
    const small = { topic_root: root, journal_max_bytes: '1MiB', journal_segment_bytes: '256KiB' };
    const down = vitalsConfig({ clientId, journalDir, mqtt: small,
      pgUrl: `postgres://nilecare:nilecare@127.0.0.1:${deadPort}/nilecare` });
    const deviceId = unique('full');
    scope.defer(async () => {
      if (!scope.failed) await sql(`DELETE FROM device_vitals WHERE device_id = ${lit(deviceId)}`);
    });
    const gw1 = await startGateway(down, { timeout: kStepMs });
    scope.defer(() => stopGateway(gw1, 15_000));
    await waitFor(async () => (await health(gw1)).data.components.mqtt?.detail?.includes('database unavailable'),
                  { timeout: kStepMs, message: 'gateway connected to the broker, database down' });
    await waitFor(async () => (await metric(gw1, 'nilecare_mqtt_connected')) === 1,
                  { timeout: kStepMs, message: 'subscribed' });
    const device = await deviceClient(scope);
    const N = 15_000;  // ~1.5 MB of journal records: more than fits
    const base = Date.now() - 600_000;
    const publisher = pacedPublisher(device, {
      count: N, rate: 3_000, topic: `${root}/${deviceId}/vitals`,
      payload: (seq) => ({ hr: 70, spo2: 97, temp: 36.7, timestamp: isoMicros(base + seq, 0), seq }),
    });
    await waitFor(async () => (await metric(gw1, 'nilecare_mqtt_journal_full')) === 1,
                  { timeout: 60_000, message: 'the journal is full' });
    const detail = (await health(gw1)).data.components.mqtt.detail;
    assert.match(detail, /journal full/, `health says so: ${detail}`);
    await withTimeout(publisher.done, 60_000, 'the broker acknowledged every publish');
    const accepted = await metric(gw1, 'nilecare_mqtt_messages_accepted_total', { kind: 'vitals' });
    assert.ok(accepted < N, `not everything fitted (${accepted} of ${N} journaled)`);

    // Stopping while the callback waits: clean exit, the waiting message stays unacknowledged.
    const exit = await stopGateway(gw1, 15_000);
    assert.deepEqual(exit, { code: 0, signal: null }, `SIGTERM exit; log:\n${gw1.logs.slice(-10).join('\n')}`);

    const gw2 = await gateway(scope, vitalsConfig({ clientId, journalDir, mqtt: small }));
    await waitSql(`SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM device_vitals
                   WHERE device_id = ${lit(deviceId)}`, `${N}|${N}|1|${N}`, { timeout: 120_000 });
    t.diagnostic(`${accepted} journaled before the stop; the restarted gateway took ` +
      `${await metric(gw2, 'nilecare_mqtt_messages_accepted_total', { kind: 'vitals' })} from the broker`);
  }));

// ---- 11. TLS to the broker -------------------------------------------------------------------

// A CA and a server certificate for 127.0.0.1 (openssl), and a mosquitto with a TLS listener
// on a free port; stopped at the end of the test.
async function tlsBroker(scope) {
  const dir = tempDir(scope, 'nc-tls-');
  const file = (name) => path.join(dir, name);
  const openssl = async (args) => {
    const res = await runCommand('openssl', args, { timeout: kStepMs, cwd: dir });
    if (res.code !== 0) throw new Error(`openssl ${args[0]} failed: ${res.stderr}`);
  };
  for (const ca of ['ca', 'other-ca']) {
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=nilecare test ${ca}`,
      '-keyout', file(`${ca}.key`), '-out', file(`${ca}.crt`)]);
  }
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1',
    '-keyout', file('server.key'), '-out', file('server.csr')]);
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  await openssl(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-days', '2', '-extfile', file('san.ext'), '-out', file('server.crt')]);
  // mosquitto started as root drops to its own user: let it read the test's files.
  chmodSync(dir, 0o755);
  for (const name of ['ca.crt', 'server.crt', 'server.key']) chmodSync(file(name), 0o644);
  const port = await freePort();
  writeFileSync(file('mosquitto.conf'), [
    `listener ${port} 127.0.0.1`, 'allow_anonymous true',
    `cafile ${file('ca.crt')}`, `certfile ${file('server.crt')}`, `keyfile ${file('server.key')}`,
    'log_dest stderr', '',
  ].join('\n'));
  const proc = spawn('mosquitto', ['-c', file('mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.setEncoding('utf8').on('data', (chunk) => { log += chunk; });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  scope.defer(async () => { proc.kill('SIGTERM'); await withTimeout(exited, kStepMs, 'mosquitto exit'); });
  await waitFor(() => log.includes('Opening ipv4 listen socket'), { timeout: kStepMs,
    message: `mosquitto TLS listener on ${port}` }).catch((err) => { err.message += `\n${log}`; throw err; });
  return { url: `ssl://127.0.0.1:${port}`, mqttsUrl: `mqtts://127.0.0.1:${port}`, ca: file('ca.crt'),
    otherCa: file('other-ca.crt') };
}

test('TLS: readings arrive over ssl:// with the broker\'s CA; another CA never connects',
  { timeout: kTestMs }, () => scoped(async (scope) => {
    const broker = await tlsBroker(scope);
    const sections = (ca) => vitalsConfig({ clientId: unique('nc-tls-gw'), journalDir: tempDir(scope, 'nc-journal-'),
      mqtt: { urls: [broker.url], tls: { ca_file: ca } } });
    const gw = await gateway(scope, sections(broker.ca));
    const wrong = await startGateway(sections(broker.otherCa), { timeout: kStepMs });
    scope.defer(() => stopGateway(wrong, 15_000));

    const deviceId = unique('tls');
    scope.defer(async () => {
      if (!scope.failed) await sql(`DELETE FROM device_vitals WHERE device_id = ${lit(deviceId)}`);
    });
    const device = await deviceClient(scope, { ca: readFileSync(broker.ca), rejectUnauthorized: true },
                                      broker.mqttsUrl);
    await publish(device, `devices/${deviceId}/vitals`,
      { hr: 71, spo2: 98, temp: 36.6, timestamp: isoMicros(Date.now(), 1), seq: 1 });
    await waitSql(`SELECT count(*) FROM device_vitals WHERE device_id = ${lit(deviceId)}`, '1');
    assert.equal(await metric(gw, 'nilecare_mqtt_connected'), 1);
    // The gateway that does not trust the broker's certificate: never connected, and says why.
    const state = (await health(wrong)).data.components.mqtt;
    assert.notEqual(state.state, 'up', JSON.stringify(state));
    assert.match(state.detail ?? '', /not connected/, JSON.stringify(state));
    assert.equal(await metric(wrong, 'nilecare_mqtt_connected'), 0);
  }));
