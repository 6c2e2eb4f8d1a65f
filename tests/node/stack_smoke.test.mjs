// Smoke test of the local stack (scripts/stack.sh) with real clients: one round trip per
// server, each step under a deadline, so a server that is up but unusable (wrong auth,
// missing topic, listener on the wrong address) fails here rather than in a gateway test.
//
//   bash scripts/stack.sh --profile test up
//   NILECARE_STACK_ENV=build/stack-test/stack.env node --test tests/node/stack_smoke.test.mjs
//
// Works on Node 18 (Debian 12) and later.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';

import amqp from 'amqplib';
import kafkajs from 'kafkajs';
import * as mqtt from 'mqtt';

const { Kafka, Partitioners, logLevel } = kafkajs;

const kStepMs = 10_000;
// The mock cluster delays the first join of a group by ~3 s.
const kKafkaConsumeMs = 20_000;
const kTestMs = 45_000;
const kKafkaTopic = 'patient.events';

function loadStackEnv() {
  const path = process.env.NILECARE_STACK_ENV;
  if (!path) {
    return { error: 'NILECARE_STACK_ENV is not set: point it at the stack.env that ' +
                    '`scripts/stack.sh --profile test up` wrote (build/stack-test/stack.env)' };
  }
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { error: `cannot read NILECARE_STACK_ENV=${path} (is the stack up?): ${err.message}` };
  }
  const vars = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) vars[match[1]] = match[2];
  }
  return { path, vars };
}

const stack = loadStackEnv();

function need(name) {
  if (stack.error) throw new Error(stack.error);
  const value = stack.vars[name];
  if (!value) {
    throw new Error(`${name} is missing from ${stack.path}: that server was not started ` +
                    '(stack.sh --only?) or is down');
  }
  return value;
}

// Rejects with a message naming the step, instead of letting the test time out silently.
async function withDeadline(promise, ms, step) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${step}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

// Cleanup must neither hang the file nor hide the test's own error.
async function quietly(promise, ms = 5_000) {
  try {
    await withDeadline(Promise.resolve(promise), ms, 'cleanup');
  } catch {
    // The test has already passed or failed on its own merits.
  }
}

test('mqtt: a QoS 1 publish comes back on a subscription', { timeout: kTestMs }, async () => {
  const url = need('NILECARE_MQTT_URL');
  const topic = `nilecare/smoke/${randomUUID()}`;
  const payload = `smoke ${new Date().toISOString()}`;
  // Our deadline, not mqtt's longer connack timeout, names the failure; the client exists
  // from the start so that `finally` can always end it.
  const client = mqtt.connect(url, { clientId: `nilecare-smoke-${process.pid}`,
                                     connectTimeout: 2 * kStepMs, reconnectPeriod: 0 });
  try {
    await withDeadline(new Promise((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    }), kStepMs, `mqtt connect to ${url}`);
    const received = new Promise((resolve) => {
      client.on('message', (t, message, packet) => {
        if (t === topic) resolve({ message, packet });
      });
    });
    await withDeadline(client.subscribeAsync(topic, { qos: 1 }), kStepMs, 'mqtt subscribe');
    // Resolves on the broker's PUBACK.
    await withDeadline(client.publishAsync(topic, payload, { qos: 1 }), kStepMs, 'mqtt publish');
    const { message, packet } = await withDeadline(received, kStepMs, 'mqtt receive');
    assert.equal(message.toString(), payload);
    assert.equal(packet.qos, 1);
  } finally {
    await quietly(client.endAsync(true));
  }
});

test('kafka: kafkajs produces to patient.events and a consumer group reads it back',
     { timeout: kTestMs }, async () => {
  const brokers = need('NILECARE_KAFKA_BROKERS').split(',');
  const kafka = new Kafka({
    clientId: 'nilecare-smoke',
    brokers,
    logLevel: logLevel.ERROR,
    connectionTimeout: 3_000,
    retry: { retries: 3 },
  });
  // The mock rejects kafkajs's idempotent producer (InitProducerId); the gateway's own
  // librdkafka producer is idempotent and works.
  const producer = kafka.producer({
    idempotent: false,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const consumer = kafka.consumer({
    groupId: `nilecare-smoke-${randomUUID()}`,
    sessionTimeout: 6_000,
    heartbeatInterval: 1_000,
  });
  const key = randomUUID();
  const value = JSON.stringify({ type: 'smoke', at: new Date().toISOString() });
  try {
    await withDeadline(producer.connect(), kStepMs, `kafka producer connect to ${brokers}`);
    const [sent] = await withDeadline(
        producer.send({ topic: kKafkaTopic, acks: -1,
                        messages: [{ key, value, headers: { 'x-nilecare-smoke': '1' } }] }),
        kStepMs, `kafka send to ${kKafkaTopic}`);
    assert.equal(sent.errorCode, 0);

    let resolveReceived;
    const received = new Promise((resolve) => { resolveReceived = resolve; });
    await withDeadline(consumer.connect(), kStepMs, 'kafka consumer connect');
    await withDeadline(consumer.subscribe({ topics: [kKafkaTopic], fromBeginning: true }),
                       kStepMs, 'kafka subscribe');
    await withDeadline(consumer.run({
      eachMessage: async ({ partition, message }) => {
        if (message.key?.toString() === key) resolveReceived({ partition, message });
      },
    }), kStepMs, 'kafka consumer run');
    const got = await withDeadline(received, kKafkaConsumeMs,
                                   `kafka consume from ${kKafkaTopic} (group join + fetch)`);
    assert.equal(got.partition, sent.partition);
    assert.equal(got.message.value.toString(), value);
    assert.equal(got.message.headers['x-nilecare-smoke'].toString(), '1');
  } finally {
    await quietly(consumer.disconnect());
    await quietly(producer.disconnect());
  }
});

test('amqp: a queued message can be fetched back', { timeout: kTestMs }, async () => {
  const url = need('NILECARE_AMQP_URL');
  const connection = await withDeadline(amqp.connect(url, { timeout: kStepMs }), kStepMs,
                                        `amqp connect to ${url}`);
  try {
    // Confirms tell us the message is in the queue before we ask for it.
    const channel = await withDeadline(connection.createConfirmChannel(), kStepMs,
                                       'amqp channel');
    const queue = `nilecare.smoke.${randomUUID()}`;
    await withDeadline(channel.assertQueue(queue, { exclusive: true, durable: false }), kStepMs,
                       'amqp assertQueue');
    const body = `smoke ${new Date().toISOString()}`;
    channel.sendToQueue(queue, Buffer.from(body), { contentType: 'text/plain' });
    await withDeadline(channel.waitForConfirms(), kStepMs, 'amqp publisher confirm');
    const message = await withDeadline(channel.get(queue, { noAck: true }), kStepMs, 'amqp get');
    assert.ok(message, `queue ${queue} was empty`);
    assert.equal(message.content.toString(), body);
  } finally {
    await quietly(connection.close());
  }
});

// No Redis client is among the test dependencies; PING in RESP is one line each way.
function redisPing(url) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port || 6379) });
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk;
      if (reply.includes('\r\n')) {
        socket.end();
        resolve(reply.trimEnd());
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`connection closed; got ${JSON.stringify(reply)}`)));
    socket.setTimeout(kStepMs, () => socket.destroy(new Error('socket timeout')));
  });
}

test('redis: PING answers PONG', { timeout: kTestMs }, async () => {
  const url = need('NILECARE_REDIS_URL');
  assert.equal(await withDeadline(redisPing(url), kStepMs, `redis PING to ${url}`), '+PONG');
});

function run(file, args, ms) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: ms, env: { ...process.env, PGCONNECT_TIMEOUT: '5' } },
             (err, stdout, stderr) => {
               if (err) {
                 const why = err.code === 'ENOENT' ? 'not installed' :
                             stderr.trim() || err.message;
                 reject(new Error(`${file} failed: ${why}`));
               } else {
                 resolve(stdout);
               }
             });
  });
}

test('postgres: the nilecare role logs in over TCP with its password',
     { timeout: kTestMs }, async () => {
  const url = need('NILECARE_PG_URL');
  const out = await withDeadline(
      run('psql', [url, '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-c',
                   'select 1, current_user, current_database()'], kStepMs),
      kStepMs, 'psql select 1');
  assert.equal(out.trim(), '1|nilecare|nilecare');
});

// Last resort: a client that leaks a socket must not keep `node --test` waiting forever.
after(() => {
  setTimeout(() => {
    console.error('stack_smoke: handles still open 5 s after the last test; exiting');
    process.exit();
  }, 5_000).unref();
});
