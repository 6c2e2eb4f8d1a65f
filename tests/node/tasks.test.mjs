// End-to-end tests of the RabbitMQ adapter (src/amqp/: topology, POST /api/v1/tasks/{queue},
// workers, retries, dead-lettering) with real clients: amqplib as the other services (checking
// the topology, reading queues, publishing raw messages), fetch for the REST API, and a
// recording HTTP server as the task handler.
//
//   1. topology: the spec's exchanges and queues exist with the spec's arguments (amqplib
//      re-declares them with the same arguments, which RabbitMQ refuses on any difference),
//      bindings route, failed.jobs has the "retry after 5 min" TTL
//   2. POST /api/v1/tasks/{queue} -> 202 with task_id; the message is in the queue the moment
//      the reply arrives (confirmed): persistent, priority, message_id, correlation_id, body;
//      every refusal (404 queue, 400 fields, 413, 401)
//   3. priority order: tasks queued with priorities 1, 5, 10, 3 are read 10, 5, 3, 1
//   4. a handler failing twice then succeeding: three calls with X-Retry-Count 0, 1, 2 and
//      the back-off between them, then acked (the queue is empty)
//   5. a handler always failing: 1 + max_retries calls, then failed.jobs with x-retry-count 3
//      and the error headers; a 400 and an unparseable body: dead-lettered at once; after
//      retry_after the task comes back from failed.jobs for another round, then it is parked
//   6. a delayed task reaches the handler after its delay, not before
//   7. broker restart (a private RabbitMQ node) while tasks are posted: every task that got a
//      202 reaches the handler; during the outage posts answer 503 and health is degraded;
//      then a memory alarm (connection.blocked): 503, and 202 again once it clears
//   8. a handler whose circuit breaker is open is not hammered: the queue pauses, and every
//      task is done once the handler is back
//   9. an event rule's `task` action: a domain event from Kafka becomes a task (task id
//      derived from the event id, body = the event)
//  10. a critical alert nobody acknowledges becomes an sms.urgent task at priority 10
//
// Needs the test stack's RabbitMQ; NILECARE_STACK_ENV names its env file:
//
//   scripts/stack.sh --profile test up
//   cd tests/node && NILECARE_STACK_ENV=../../build/stack-test/stack.env node --test tasks.test.mjs
//
// Isolation: except for test 1 (the default topology), every gateway gets queue and exchange
// names of its own, deleted at the end. Every wait has a deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import amqplib from 'amqplib';
import kafkajs from 'kafkajs';

import {
  GATEWAY_BIN, INTERNAL_TOKEN, freePort, loadStackEnv, metricValue, mintToken, requestJson, runCommand,
  scoped, scrapeMetrics, startGateway, stopGateway, waitFor, withTimeout,
} from './realtime_support.mjs';

// Generous: CI has 2 cores, runs ctest -j2, and also runs this under ASan (~3x slower).
const kStepMs = 30_000;
const kTestMs = 120_000;
const kQuietMs = 1_000;  // the window in which a call that must not happen would have come
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const runId = crypto.randomBytes(4).toString('hex');
let counter = 0;
const unique = (kind) => `${kind}-${runId}-${++counter}`;

let stackEnv;
const amqpUrl = () => {
  stackEnv ??= loadStackEnv(['NILECARE_AMQP_URL']);
  return stackEnv.NILECARE_AMQP_URL;
};
const kafkaBrokers = () => loadStackEnv(['NILECARE_KAFKA_BROKERS']).NILECARE_KAFKA_BROKERS.split(',');

// ---- handler service -------------------------------------------------------------------------

// Records every call: { path, headers, body (parsed), at (ms) }. decide(call, calls) -> status
// (default 200); calls for the same task id are passed along, so "fail twice" is per task.
async function handlerService(scope, decide = () => 200) {
  const calls = [];
  const service = { calls, decide };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body;
      try { body = JSON.parse(text); } catch { body = text; }
      const call = { path: req.url, headers: req.headers, body, at: Date.now() };
      calls.push(call);
      const same = calls.filter((c) => c.headers['x-task-id'] === call.headers['x-task-id']);
      const status = service.decide(call, same);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: status < 300 }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  scope.defer(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  service.url = `http://127.0.0.1:${server.address().port}`;
  service.forTask = (taskId) => calls.filter((c) => c.headers['x-task-id'] === taskId);
  return service;
}

// ---- gateway ---------------------------------------------------------------------------------

// Queue/exchange names of this gateway's own (deleted at the end), so tests never see each
// other's messages. names.work[i] is bound to names.exchange.
function privateTopology(scope, count = 2) {
  const id = unique('t');
  const names = {
    exchange: `nc-test.${id}`,
    work: Array.from({ length: count }, (_, i) => `nc-test.${id}.q${i}`),
    dlx: `nc-test.${id}.dlx`,
    failed: `nc-test.${id}.failed`,
    parked: `nc-test.${id}.parked`,
  };
  scope.defer(async () => {
    const conn = await amqplib.connect(names.url ?? amqpUrl());
    try {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      for (const q of [...names.work, names.failed, names.parked]) await ch.deleteQueue(q);
      await ch.deleteExchange(names.exchange);
      await ch.deleteExchange(names.dlx);
    } finally {
      await conn.close().catch(() => {});
    }
  });
  return names;
}

function rabbitSection(names, { url = amqpUrl(), workers = [], deadLetter = {}, ...rest } = {}) {
  return {
    url,
    reconnect_min: '200ms',
    reconnect_max: '1s',
    queues: names.work.map((name) => ({ name, exchange: names.exchange, priority: 5 })),
    dead_letter: {
      exchange: names.dlx, queue: names.failed, parking_queue: names.parked, ...deadLetter,
    },
    workers,
    ...rest,
  };
}

// A gateway with `rabbitmq` (and, when a handler is given, an upstream + route so that the
// REST adapter and its service caller exist). Must exit 0 on SIGTERM; log printed on failure.
async function gateway(scope, rabbitmq, { handler, upstreamExtra = {}, sections = {} } = {}) {
  if (!existsSync(GATEWAY_BIN)) {
    throw new Error(`gateway binary ${GATEWAY_BIN} does not exist: build it, or set NILECARE_GATEWAY_BIN`);
  }
  const config = { log: { level: 'debug', format: 'json' }, rabbitmq, ...sections };
  if (handler) {
    config.upstreams = { tasks: { url: handler.url, ...upstreamExtra } };
    config.routes = [{ prefix: '/api/v1/unused', upstream: 'tasks' }];
  }
  const gw = await startGateway(config, { timeout: kStepMs });
  scope.defer(async () => {
    const exit = await stopGateway(gw, 15_000);
    if (scope.failed) {
      process.stderr.write(`---- gateway ${gw.proc.pid} (exit ${JSON.stringify(exit)}), last log lines:\n` +
                           `${gw.logs.filter((l) => !l.includes('"msg":"http request"')).slice(-80).join('\n')}\n`);
    }
    assert.deepEqual(exit, { code: 0, signal: null },
                     `gateway exits 0 on SIGTERM; last log lines:\n${gw.logs.slice(-20).join('\n')}`);
  });
  await waitComponent(gw, 'rabbitmq', 'up');
  return gw;
}

async function waitComponent(gw, name, state, { timeout = kStepMs } = {}) {
  let last;
  try {
    return await waitFor(async () => {
      const res = await requestJson(`${gw.url}/health`, { timeout: 5_000 });
      last = res.body?.data?.components?.[name];
      return last?.state === state ? last : undefined;
    }, { timeout, interval: 100, message: `/health components.${name}.state == '${state}'` });
  } catch (err) {
    err.message += ` (last: ${JSON.stringify(last)})`;
    throw err;
  }
}

const token = (claims = {}) => mintToken({ sub: 'svc-notifications', role: 'admin', ...claims });

function postTask(gw, queue, body, { headers = {}, auth = token() } = {}) {
  const h = { ...headers };
  if (auth) h.authorization = `Bearer ${auth}`;
  return requestJson(`${gw.url}/api/v1/tasks/${queue}`, { method: 'POST', body, headers: h, timeout: kStepMs });
}

async function metric(gw, name, labels) {
  return metricValue(await scrapeMetrics(gw.url), name, labels);
}

// ---- amqplib ---------------------------------------------------------------------------------

async function amqp(scope, url = amqpUrl()) {
  const conn = await withTimeout(amqplib.connect(url), kStepMs, 'amqplib connect');
  conn.on('error', () => {});
  scope.defer(() => conn.close().catch(() => {}));
  return conn;
}

// Reads one message (acked), waiting for it with a deadline; null when `timeout` passes.
async function getMessage(ch, queue, { timeout = kStepMs } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const msg = await ch.get(queue, { noAck: true });
    if (msg) return msg;
    if (Date.now() >= deadline) return null;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A declaration RabbitMQ must accept as equivalent to what exists (a channel of its own: a
// refusal closes the channel).
async function redeclare(conn, fn) {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    return await fn(ch);
  } finally {
    await ch.close().catch(() => {});
  }
}

const headerNumber = (msg, name) => Number(msg.properties.headers?.[name]);

// ---- tests ---------------------------------------------------------------------------------

test('1. the spec topology is declared: exchanges, queues with their arguments, bindings', { timeout: kTestMs }, () => scoped(async (scope) => {
  await gateway(scope, { url: amqpUrl() });
  const conn = await amqp(scope);
  const exchanges = { 'nilecare.email': 'direct', 'nilecare.sms': 'direct', 'nilecare.reports': 'direct', 'nilecare.dlq': 'fanout' };
  for (const [name, type] of Object.entries(exchanges)) {
    await redeclare(conn, (ch) => ch.assertExchange(name, type, { durable: true }));
  }
  const work = { 'nilecare.email': ['email.high', 'email.normal', 'email.low'], 'nilecare.sms': ['sms.urgent', 'sms.normal'],
                 'nilecare.reports': ['reports.pdf', 'reports.excel'] };
  const workArgs = { 'x-max-priority': 10, 'x-dead-letter-exchange': 'nilecare.dlq' };
  for (const queues of Object.values(work)) {
    for (const queue of queues) {
      await redeclare(conn, (ch) => ch.assertQueue(queue, { durable: true, arguments: workArgs }));
    }
  }
  // The check can fail: a different argument is refused (406 PRECONDITION_FAILED).
  await assert.rejects(redeclare(conn, (ch) => ch.assertQueue('email.high', {
    durable: true, arguments: { ...workArgs, 'x-max-priority': 5 } })), /PRECONDITION_FAILED/);
  // failed.jobs: the spec's "retry after 5 min", back to the work queue by its routing key.
  await redeclare(conn, (ch) => ch.assertQueue('failed.jobs', {
    durable: true, arguments: { 'x-message-ttl': 300_000, 'x-dead-letter-exchange': '' } }));
  await redeclare(conn, (ch) => ch.assertQueue('failed.jobs.parked', { durable: true }));

  // Bindings: a marker published to each exchange with each queue's name lands in that queue.
  const ch = await conn.createConfirmChannel();
  for (const [exchange, queues] of Object.entries(work)) {
    for (const queue of queues) {
      await ch.purgeQueue(queue);
      const marker = unique('marker');
      ch.publish(exchange, queue, Buffer.from(JSON.stringify({ marker })));
      await ch.waitForConfirms();
      const msg = await getMessage(ch, queue, { timeout: 5_000 });
      assert.ok(msg, `${exchange} routes ${queue} to the queue ${queue}`);
      assert.equal(JSON.parse(msg.content.toString()).marker, marker);
    }
  }
  await ch.purgeQueue('failed.jobs');
  const marker = unique('dead');
  ch.publish('nilecare.dlq', 'email.high', Buffer.from(marker));
  await ch.waitForConfirms();
  const dead = await getMessage(ch, 'failed.jobs', { timeout: 5_000 });
  assert.equal(dead?.content.toString(), marker, 'nilecare.dlq (fanout) routes to failed.jobs');
}));

test('2. POST /api/v1/tasks/{queue}: 202 once confirmed, the message as published; refusals', { timeout: kTestMs }, () => scoped(async (scope) => {
  const names = privateTopology(scope);
  const gw = await gateway(scope, rabbitSection(names, { max_task_bytes: 2048, publish_roles: ['admin', 'service'] }));
  const conn = await amqp(scope);
  const ch = await conn.createChannel();
  const queue = names.work[0];
  const payload = { to: 'patient@example.com', template: 'appointment_reminder', data: { n: 1, ok: true } };
  const correlation = crypto.randomUUID();
  const res = await postTask(gw, queue, { payload, priority: 7 }, { headers: { 'x-correlation-id': correlation } });
  assert.equal(res.status, 202, res.text);
  assert.equal(res.body.success, true);
  assert.match(res.body.data.task_id, UUID);
  assert.equal(res.body.data.queue, queue);
  assert.equal(res.body.data.priority, 7);
  // Confirmed means stored: readable at once, no waiting.
  const msg = await ch.get(queue, { noAck: true });
  assert.ok(msg, 'the task is in its queue when the 202 arrives');
  assert.deepEqual(JSON.parse(msg.content.toString()), payload);
  assert.equal(msg.properties.deliveryMode, 2, 'persistent');
  assert.equal(msg.properties.priority, 7);
  assert.equal(msg.properties.messageId, res.body.data.task_id);
  assert.equal(msg.properties.correlationId, correlation);
  assert.equal(msg.properties.contentType, 'application/json');
  assert.equal(msg.properties.headers['x-task-source'], 'api');
  assert.equal(msg.fields.exchange, names.exchange);
  assert.equal(msg.fields.routingKey, queue);

  // Without a priority: the queue's default (5).
  const plain = await postTask(gw, queue, { payload: { a: 1 } });
  assert.equal(plain.status, 202, plain.text);
  assert.equal((await ch.get(queue, { noAck: true }))?.properties.priority, 5);

  const refusals = [
    [await postTask(gw, 'no.such.queue', { payload: {} }), 404, 'NOT_FOUND'],
    [await postTask(gw, queue, { priority: 3 }), 400, 'VALIDATION_ERROR', 'payload'],
    [await postTask(gw, queue, { payload: [1, 2] }), 400, 'VALIDATION_ERROR', 'payload'],
    [await postTask(gw, queue, { payload: {}, priority: 11 }), 400, 'VALIDATION_ERROR', 'priority'],
    [await postTask(gw, queue, { payload: {}, priority: 'high' }), 400, 'VALIDATION_ERROR', 'priority'],
    [await postTask(gw, queue, { payload: {}, delay: 'soon' }), 400, 'VALIDATION_ERROR', 'delay'],
    [await postTask(gw, queue, { payload: {}, delay: '48h' }), 400, 'VALIDATION_ERROR', 'delay'],
    [await postTask(gw, queue, { payload: {}, extra: 1 }), 400, 'VALIDATION_ERROR', 'extra'],
    [await postTask(gw, queue, 'not json'), 400, 'VALIDATION_ERROR', 'body'],
    [await postTask(gw, queue, { payload: { blob: 'x'.repeat(4096) } }), 413, 'PAYLOAD_TOO_LARGE'],
    // A body within the limit whose payload re-serialises beyond it (1e2 becomes 100.0).
    [await postTask(gw, queue, `{"payload":{"n":[${Array(450).fill('1e2').join(',')}]}}`), 413, 'PAYLOAD_TOO_LARGE'],
    [await postTask(gw, queue, { payload: {} }, { auth: null }), 401, 'UNAUTHORIZED'],
    [await postTask(gw, queue, { payload: {} }, { auth: token({ role: 'patient' }) }), 403, 'FORBIDDEN'],
  ];
  for (const [reply, status, code, field] of refusals) {
    assert.equal(reply.status, status, reply.text);
    assert.equal(reply.body.success, false);
    assert.equal(reply.body.error.code, code, reply.text);
    if (field) assert.equal(reply.body.error.details.field, field, reply.text);
  }
  const left = await ch.checkQueue(queue);
  assert.equal(left.messageCount, 0, 'nothing was published for a refused request');
  assert.equal(await metric(gw, 'nilecare_tasks_confirmed_total', { queue }), 2);
  assert.equal(await metric(gw, 'nilecare_tasks_api_rejected_total'), refusals.length);
}));

test('3. priority order is honoured', { timeout: kTestMs }, () => scoped(async (scope) => {
  const names = privateTopology(scope, 1);
  const gw = await gateway(scope, rabbitSection(names));
  const queue = names.work[0];
  for (const priority of [1, 5, 10, 3, 0, 9]) {
    const res = await postTask(gw, queue, { payload: { priority }, priority });
    assert.equal(res.status, 202, res.text);
  }
  const ch = await (await amqp(scope)).createChannel();
  const order = [];
  for (let i = 0; i < 6; ++i) order.push((await getMessage(ch, queue, { timeout: 5_000 })).properties.priority);
  assert.deepEqual(order, [10, 9, 5, 3, 1, 0]);
}));

function worker(names, handler, extra = {}) {
  return {
    queue: names.work[0], handler_url: `${handler.url}/tasks/email`, prefetch: 5, concurrency: 2,
    max_retries: 3, retry_min: '200ms', retry_max: '1s', ...extra,
  };
}

test('4. a handler failing twice then succeeding: retried with x-retry-count and back-off, then acked', { timeout: kTestMs }, () => scoped(async (scope) => {
  const names = privateTopology(scope, 1);
  const handler = await handlerService(scope, (call, same) => (same.length <= 2 ? 503 : 200));
  const gw = await gateway(scope, rabbitSection(names, { workers: [worker(names, handler)] }), { handler });
  const queue = names.work[0];
  const correlation = crypto.randomUUID();
  const res = await postTask(gw, queue, { payload: { kind: 'flaky' } }, { headers: { 'x-correlation-id': correlation } });
  assert.equal(res.status, 202, res.text);
  const taskId = res.body.data.task_id;
  await waitFor(() => handler.forTask(taskId).length >= 3, { timeout: kStepMs, message: 'three handler calls' });
  await waitFor(async () => (await metric(gw, 'nilecare_tasks_acked_total', { queue })) === 1,
                { timeout: kStepMs, message: 'the task acked' });
  await new Promise((r) => setTimeout(r, kQuietMs));
  const calls = handler.forTask(taskId);
  assert.equal(calls.length, 3, 'done after the third call: not called again');
  assert.deepEqual(calls.map((c) => c.headers['x-retry-count']), ['0', '1', '2']);
  for (const call of calls) {
    assert.equal(call.path, '/tasks/email');
    assert.deepEqual(call.body, { kind: 'flaky' });
    assert.equal(call.headers['x-correlation-id'], correlation);
    assert.equal(call.headers['idempotency-key'], taskId);
    assert.equal(call.headers['x-task-queue'], queue);
  }
  // Back-off: retry 1 after >= 200 ms, retry 2 after >= 400 ms (real delays, not an expiry).
  assert.ok(calls[1].at - calls[0].at >= 200, `first back-off ${calls[1].at - calls[0].at} ms`);
  assert.ok(calls[2].at - calls[1].at >= 400, `second back-off ${calls[2].at - calls[1].at} ms`);
  assert.equal(await metric(gw, 'nilecare_tasks_retried_total', { queue }), 2);
  const ch = await (await amqp(scope)).createChannel();
  assert.equal((await ch.checkQueue(queue)).messageCount, 0);
  assert.equal((await ch.checkQueue(names.failed)).messageCount, 0, 'nothing dead-lettered');
}));

test('5. always failing -> failed.jobs after 3 retries with error headers; 400 and unparseable at once; rounds, then parked', { timeout: kTestMs }, () => scoped(async (scope) => {
  const names = privateTopology(scope, 1);
  const handler = await handlerService(scope, (call) => (call.body?.kind === 'reject' ? 400 : 500));
  const gw = await gateway(scope, rabbitSection(names, {
    workers: [worker(names, handler)],
    deadLetter: { retry_after: 'off' },  // keep them in failed.jobs for this test
  }), { handler });
  const queue = names.work[0];
  const conn = await amqp(scope);
  const ch = await conn.createChannel();

  const res = await postTask(gw, queue, { payload: { kind: 'broken' } });
  assert.equal(res.status, 202, res.text);
  const taskId = res.body.data.task_id;
  const dead = await getMessage(ch, names.failed);
  assert.ok(dead, 'the task reached failed.jobs');
  assert.equal(dead.properties.messageId, taskId);
  assert.deepEqual(JSON.parse(dead.content.toString()), { kind: 'broken' });
  assert.equal(headerNumber(dead, 'x-retry-count'), 3);
  assert.equal(dead.properties.headers['x-error'], 'http_500');
  assert.equal(dead.properties.headers['x-original-queue'], queue);
  assert.match(String(dead.properties.headers['x-failed-at']), /^\d{4}-\d{2}-\d{2}T/);
  assert.equal(headerNumber(dead, 'x-dead-lettered'), 1);
  assert.equal(dead.fields.routingKey, queue);
  await new Promise((r) => setTimeout(r, kQuietMs));
  assert.deepEqual(handler.forTask(taskId).map((c) => c.headers['x-retry-count']), ['0', '1', '2', '3']);

  // A 400 from the handler: retrying cannot help.
  const rejected = await postTask(gw, queue, { payload: { kind: 'reject' } });
  assert.equal(rejected.status, 202);
  const deadRejected = await getMessage(ch, names.failed);
  assert.equal(deadRejected?.properties.messageId, rejected.body.data.task_id);
  assert.equal(deadRejected.properties.headers['x-error'], 'http_400');
  assert.equal(handler.forTask(rejected.body.data.task_id).length, 1);

  // Not JSON at all (published straight to the queue by another service): never handed out.
  const confirm = await conn.createConfirmChannel();
  confirm.sendToQueue(queue, Buffer.from('{not json'), { persistent: true, messageId: 'raw-1' });
  await confirm.waitForConfirms();
  const deadRaw = await getMessage(ch, names.failed);
  assert.equal(deadRaw?.properties.messageId, 'raw-1');
  assert.equal(deadRaw.properties.headers['x-error'], 'unparseable');
  assert.equal(deadRaw.content.toString(), '{not json');
  assert.equal(handler.forTask('raw-1').length, 0);
  await waitFor(async () => (await metric(gw, 'nilecare_tasks_dead_lettered_total', { queue, reason: 'unparseable' })) === 1,
                { timeout: 5_000, message: 'unparseable counted' });
  assert.equal(await metric(gw, 'nilecare_tasks_dead_lettered_total', { queue, reason: 'retries_exhausted' }), 1);
  assert.equal(await metric(gw, 'nilecare_tasks_dead_lettered_total', { queue, reason: 'handler_rejected' }), 1);
}));

test('5b. failed.jobs sends a task back after retry_after; after max_rounds it is parked', { timeout: kTestMs }, () => scoped(async (scope) => {
  const names = privateTopology(scope, 1);
  const handler = await handlerService(scope, () => 500);
  const gw = await gateway(scope, rabbitSection(names, {
    workers: [worker(names, handler, { max_retries: 1, retry_min: '100ms' })],
    deadLetter: { retry_after: '1s', max_rounds: 2 },
  }), { handler });
  const res = await postTask(gw, names.work[0], { payload: { kind: 'rounds' } });
  assert.equal(res.status, 202, res.text);
  const ch = await (await amqp(scope)).createChannel();
  const parked = await getMessage(ch, names.parked);
  assert.ok(parked, 'parked after two rounds');
  assert.equal(parked.properties.messageId, res.body.data.task_id);
  assert.equal(headerNumber(parked, 'x-dead-lettered'), 2);
  const calls = handler.forTask(res.body.data.task_id);
  // Round 1: retry counts 0, 1 -> failed.jobs; 1 s later round 2: 1, 2 -> parked.
  assert.deepEqual(calls.map((c) => c.headers['x-retry-count']), ['0', '1', '1', '2']);
  assert.ok(calls[2].at - calls[1].at >= 1_000, `back from failed.jobs after ${calls[2].at - calls[1].at} ms`);
  assert.equal((await ch.checkQueue(names.failed)).messageCount, 0);
  assert.equal(await metric(gw, 'nilecare_tasks_parked_total', { queue: names.work[0] }), 1);
}));

test('6. a delayed task arrives after its delay, not before', { timeout: kTestMs }, () => scoped(async (scope) => {
  const names = privateTopology(scope, 1);
  const handler = await handlerService(scope);
  const gw = await gateway(scope, rabbitSection(names, { workers: [worker(names, handler)] }), { handler });
  const sent = Date.now();
  const res = await postTask(gw, names.work[0], { payload: { kind: 'later' }, delay: '2s' });
  assert.equal(res.status, 202, res.text);
  assert.equal(res.body.data.delay_ms, 2000);
  const now = await postTask(gw, names.work[0], { payload: { kind: 'now' } });
  assert.equal(now.status, 202);
  await waitFor(() => handler.forTask(res.body.data.task_id).length === 1, { timeout: kStepMs, message: 'the delayed task handled' });
  const [call] = handler.forTask(res.body.data.task_id);
  const [immediate] = handler.forTask(now.body.data.task_id);
  assert.ok(immediate && immediate.at < call.at, 'the undelayed task, posted after, was handled first');
  assert.ok(call.at - sent >= 2_000, `handled ${call.at - sent} ms after it was posted`);
  assert.deepEqual(call.body, { kind: 'later' });
}));

// ---- broker restart (a private RabbitMQ node) ----------------------------------------------------

async function privateBroker(scope) {
  const dir = mkdtempSync(path.join(tmpdir(), 'nilecare-amqp-'));
  const env = {
    NILECARE_STACK_DIR: dir, NILECARE_AMQP_PORT: String(await freePort()),
    NILECARE_AMQP_DIST_PORT: String(await freePort()),
  };
  const stack = (command, ...args) => runCommand(path.join(REPO, 'scripts/stack.sh'),
                                                 ['--profile', 'test', '--only', 'amqp', command, ...args],
                                                 { env, timeout: 120_000 });
  const broker = {
    url: `amqp://guest:guest@127.0.0.1:${env.NILECARE_AMQP_PORT}/`,
    async up() {
      const r = await stack('up');
      assert.equal(r.code, 0, `private rabbitmq up:\n${r.stdout}${r.stderr}`);
    },
    async down() {
      const r = await stack('down');
      assert.equal(r.code, 0, `private rabbitmq down:\n${r.stdout}${r.stderr}`);
    },
    async ctl(...args) {
      const r = await stack('amqp-ctl', ...args);
      assert.equal(r.code, 0, `rabbitmqctl ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
    },
  };
  scope.defer(async () => {
    await stack('down');
    rmSync(dir, { recursive: true, force: true });
  });
  await broker.up();
  return broker;
}

test('7. broker restart while tasks are posted: every confirmed task is delivered', { timeout: 300_000 }, () => scoped(async (scope) => {
  const broker = await privateBroker(scope);
  const names = privateTopology(scope, 1);
  names.url = broker.url;
  const handler = await handlerService(scope);
  const gw = await gateway(scope, rabbitSection(names, {
    url: broker.url, confirm_timeout: '3s', workers: [worker(names, handler, { concurrency: 5 })],
  }), { handler });

  const confirmed = new Set();
  const refused = [];
  let stop = false;
  const poster = async () => {
    while (!stop) {
      const res = await postTask(gw, names.work[0], { payload: { n: ++counter } }).catch((err) => ({ status: 0, text: err.message }));
      if (res.status === 202) confirmed.add(res.body.data.task_id);
      else refused.push(res);
    }
  };
  const posters = Array.from({ length: 4 }, poster);
  await waitFor(() => confirmed.size >= 50, { timeout: kStepMs, message: '50 tasks confirmed before the restart' });
  await broker.down();
  const duringOutage = await postTask(gw, names.work[0], { payload: { outage: true } });
  assert.equal(duringOutage.status, 503, duringOutage.text);
  assert.equal(duringOutage.body.error.code, 'BROKER_UNAVAILABLE');
  assert.ok(duringOutage.headers.get('retry-after'), 'Retry-After on 503');
  await waitComponent(gw, 'rabbitmq', 'degraded');
  const beforeUp = confirmed.size;
  await broker.up();
  await waitComponent(gw, 'rabbitmq', 'up', { timeout: 60_000 });
  await waitFor(() => confirmed.size >= beforeUp + 50, { timeout: 60_000, message: '50 more tasks confirmed after the restart' });
  stop = true;
  await Promise.all(posters);
  for (const res of refused) assert.equal(res.status, 503, `only 503 while the broker was away: ${res.text}`);

  const handled = () => new Set(handler.calls.map((c) => c.headers['x-task-id']));
  await waitFor(() => [...confirmed].every((id) => handled().has(id)), {
    timeout: 60_000, interval: 200,
    message: `every confirmed task handled (${confirmed.size} confirmed)`,
  }).catch((err) => {
    const missing = [...confirmed].filter((id) => !handled().has(id));
    err.message += `: ${missing.length} missing, e.g. ${missing.slice(0, 3).join(', ')}`;
    throw err;
  });
  assert.ok(await metric(gw, 'nilecare_amqp_reconnects_total', { connection: 'publish' }) >= 1);

  // A memory alarm: RabbitMQ blocks publishers (connection.blocked) and stops reading from
  // them. Posts are refused after confirm_timeout, nothing hangs, and once the alarm clears
  // tasks flow again; the gateway still stops cleanly (checked at cleanup).
  await broker.ctl('set_vm_memory_high_watermark', '0.000001');
  const blocked = await postTask(gw, names.work[0], { payload: { alarm: true } });
  assert.equal(blocked.status, 503, blocked.text);
  assert.equal(blocked.body.error.code, 'BROKER_UNAVAILABLE');
  assert.ok(gw.logs.some((line) => line.includes('"msg":"rabbitmq blocked publishing')),
            'the broker told the gateway (connection.blocked capability)');
  await broker.ctl('set_vm_memory_high_watermark', '0.4');
  await waitFor(async () => (await postTask(gw, names.work[0], { payload: { after_alarm: true } })).status === 202,
                { timeout: kStepMs, interval: 200, message: '202 again once the alarm cleared' });
}));

test('8. an open circuit breaker pauses the queue instead of hammering the handler', { timeout: kTestMs }, () => scoped(async (scope) => {
  const names = privateTopology(scope, 1);
  const handler = await handlerService(scope, () => 503);
  const queue = names.work[0];
  const gw = await gateway(scope, rabbitSection(names, {
    workers: [worker(names, handler, { concurrency: 1, max_retries: 100, retry_min: '50ms', retry_max: '50ms',
                                       pause_on_open: '1s' })],
  }), { handler, upstreamExtra: { circuit_breaker: {
    error_threshold_percent: 50, volume_threshold: 4, window: '10s', reset_timeout: '3s', timeout: '5s' } } });
  const ids = [];
  for (let i = 0; i < 5; ++i) {
    const res = await postTask(gw, queue, { payload: { i } });
    assert.equal(res.status, 202, res.text);
    ids.push(res.body.data.task_id);
  }
  await waitFor(async () => (await metric(gw, 'nilecare_task_queue_paused', { queue })) === 1,
                { timeout: kStepMs, message: 'the queue paused' });
  // While the breaker is open (3 s) nothing reaches the handler, though 5 tasks are waiting.
  const callsAtPause = handler.calls.length;
  await new Promise((r) => setTimeout(r, 2_000));
  assert.ok(handler.calls.length <= callsAtPause + 1, `${handler.calls.length - callsAtPause} calls while open`);
  handler.decide = () => 200;
  await waitFor(() => ids.every((id) => handler.forTask(id).some((c) => c.at > 0) &&
                                       handler.forTask(id).length > 0),
                { timeout: kStepMs, message: 'every task reached the handler' });
  await waitFor(async () => (await metric(gw, 'nilecare_tasks_acked_total', { queue })) === 5,
                { timeout: kStepMs, message: 'all five acked once the handler is back' });
  const ch = await (await amqp(scope)).createChannel();
  assert.equal((await ch.checkQueue(names.failed)).messageCount, 0, 'none dead-lettered: a pause is not a failure');
  assert.equal(await metric(gw, 'nilecare_task_queue_paused', { queue }), 0);
}));

test('9. an event rule task action: a Kafka domain event becomes a task', { timeout: kTestMs }, () => scoped(async (scope) => {
  const names = privateTopology(scope, 1);
  const queue = names.work[0];
  const gw = await gateway(scope, rabbitSection(names), { sections: {
    kafka: { brokers: kafkaBrokers(), consumer: { group: unique('nc-tasktest'), auto_offset_reset: 'latest', session_timeout: '6s' } },
    events: { rules: [{ match: 'payment.refund_requested', actions: [{ task: { queue, priority: 7 } }] }] },
  } });
  await waitComponent(gw, 'events', 'up', { timeout: 60_000 });
  const kafka = new kafkajs.Kafka({ clientId: unique('nc-tasktest'), brokers: kafkaBrokers(), logLevel: kafkajs.logLevel.ERROR });
  const producer = kafka.producer({ idempotent: false, createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  scope.defer(() => producer.disconnect());
  const ch = await (await amqp(scope)).createChannel();
  // A new group starts at the end of each partition once it fetched from it: send until one
  // of our events comes through, then check that exactly that one became exactly one task.
  const sent = new Map();
  let msg = null;
  const deadline = Date.now() + 60_000;
  while (!msg && Date.now() < deadline) {
    const event = { event_id: crypto.randomUUID(), event_type: 'payment.refund_requested', event_version: '1.0',
                    timestamp: new Date().toISOString(), source_service: 'tasks-test', correlation_id: crypto.randomUUID(),
                    data: { payment_id: unique('pay'), amount: 12.5 } };
    sent.set(event.event_id, event);
    await producer.send({ topic: 'payment.events', acks: -1, messages: [{ key: event.event_id, value: JSON.stringify(event) }] });
    msg = await getMessage(ch, queue, { timeout: 2_000 });
  }
  assert.ok(msg, 'a task arrived for one of the events');
  const [eventId, suffix] = msg.properties.messageId.split(/:(?=[^:]*$)/);
  assert.equal(suffix, queue, 'task id = <event_id>:<queue>');
  const event = sent.get(eventId);
  assert.ok(event, `the task came from one of our events (${msg.properties.messageId})`);
  assert.deepEqual(JSON.parse(msg.content.toString()), event);
  assert.equal(msg.properties.priority, 7);
  assert.equal(msg.properties.correlationId, event.correlation_id);
  assert.equal(msg.properties.headers['x-task-source'], 'event');
}));

test('10. a critical alert nobody acknowledges becomes an sms.urgent task', { timeout: kTestMs }, () => scoped(async (scope) => {
  const gw = await gateway(scope, { url: amqpUrl() }, { sections: {
    realtime: { internal_token: INTERNAL_TOKEN, alert_ack_timeout: '300ms', alert_max_resends: 2 },
  } });
  const ch = await (await amqp(scope)).createChannel();
  await ch.purgeQueue('sms.urgent');
  const patient = unique('P');
  const res = await requestJson(`${gw.url}/internal/emit`, {
    method: 'POST', headers: { authorization: `Bearer ${INTERNAL_TOKEN}` },
    body: { room: `patient:${patient}`, event: 'alert:critical', data: { patient_id: patient, alert_type: 'hr_high' } },
  });
  assert.ok(res.status < 300, res.text);
  const msg = await getMessage(ch, 'sms.urgent');
  assert.ok(msg, 'an sms.urgent task');
  const body = JSON.parse(msg.content.toString());
  assert.equal(body.type, 'critical_alert_unacknowledged');
  assert.equal(body.alert.patient_id, patient);
  assert.deepEqual(body.rooms, [`patient:${patient}`]);
  assert.equal(msg.properties.messageId, `alert-${body.alert_id}-sms`);
  assert.equal(msg.properties.priority, 10);
  // One SMS per alert, however often it is re-sent afterwards.
  await waitFor(async () => (await metric(gw, 'nilecare_realtime_alerts_total', { event: 'unacknowledged' })) === 1,
                { timeout: kStepMs, message: 'the alert given up' });
  assert.equal(await getMessage(ch, 'sms.urgent', { timeout: 200 }), null, 'a single task');
  assert.equal(await metric(gw, 'nilecare_realtime_alerts_total', { event: 'sms_queued' }), 1);
}));
