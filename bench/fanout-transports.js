// The two candidate cross-instance transports, measured alone: Postgres LISTEN/NOTIFY and Redis pub/sub.
// Each sends MESSAGES posting-sized payloads (about 500 bytes, what one posting's event weighs on the
// wire) from one connection to another and reports messages per second and delivery delay. Run:
// npm run bench:fanout (BENCH_DATABASE_URL as in subscriptions.js; REDIS_URL, default redis://127.0.0.1:6379).
//
// Redis is spoken to with a minimal RESP client written here (PUBLISH, SUBSCRIBE), to measure the
// transport without adding a client library the server does not use.
'use strict';
const net = require('node:net');
const pg = require('pg');

const PG_URL = process.env.BENCH_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = new URL(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
const MESSAGES = Number(process.env.BENCH_MESSAGES || 20_000);
const PAYLOAD_PAD = 'x'.repeat(480);

function payload(n) {
  return JSON.stringify({ n, at: performance.now(), pad: PAYLOAD_PAD });
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: +at(0.5).toFixed(2), p99: +at(0.99).toFixed(2) };
}

function report(name, started, delays) {
  const row = { transport: name, messagesPerSecond: Math.round(MESSAGES / ((performance.now() - started) / 1000)), delayMs: summary(delays) };
  console.log(JSON.stringify(row));
}

/** NOTIFY sent as the server sends it: batches of up to `batch` payloads per statement, one statement in flight. */
async function postgres(batch) {
  const listener = new pg.Client({ connectionString: PG_URL });
  const sender = new pg.Client({ connectionString: PG_URL });
  await Promise.all([listener.connect(), sender.connect()]);
  await listener.query('LISTEN bench_fanout');
  const delays = [];
  const done = new Promise((resolve) =>
    listener.on('notification', (message) => {
      delays.push(performance.now() - JSON.parse(message.payload).at);
      if (delays.length === MESSAGES) resolve();
    }),
  );
  const started = performance.now();
  for (let n = 0; n < MESSAGES; n += batch) {
    const payloads = Array.from({ length: Math.min(batch, MESSAGES - n) }, (_, i) => payload(n + i));
    await sender.query("SELECT pg_notify('bench_fanout', p) FROM unnest($1::text[]) AS p", [payloads]);
  }
  await done;
  report(`postgres NOTIFY, ${batch} per statement`, started, delays);
  await Promise.all([listener.end(), sender.end()]);
}

function resp(...parts) {
  return `*${parts.length}\r\n${parts.map((part) => `$${Buffer.byteLength(part)}\r\n${part}\r\n`).join('')}`;
}

function redisConnection() {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(REDIS_URL.port || 6379), REDIS_URL.hostname, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** PUBLISH pipelined `window` deep, as a fan-out would send while earlier replies are outstanding. */
async function redis(window) {
  const [subscriber, publisher] = await Promise.all([redisConnection(), redisConnection()]);
  const delays = [];
  let buffer = '';
  let subscribed;
  const ready = new Promise((resolve) => (subscribed = resolve));
  const done = new Promise((resolve) =>
    subscriber.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      // Each pushed message is *3 $7 message $<n> channel $<n> payload; read whole ones only.
      for (;;) {
        const match = /^\*3\r\n\$(\d+)\r\n(\w+)\r\n\$(\d+)\r\n([^\r]*)\r\n(?:\$(\d+)\r\n|:(\d+)\r\n)/.exec(buffer);
        if (!match) return;
        if (match[2] === 'subscribe') {
          buffer = buffer.slice(match[0].length);
          subscribed();
          continue;
        }
        const length = Number(match[5]);
        const start = match[0].length;
        if (Buffer.byteLength(buffer) < start + length + 2) return;
        const body = buffer.slice(start, start + length);
        buffer = buffer.slice(start + length + 2);
        delays.push(performance.now() - JSON.parse(body).at);
        if (delays.length === MESSAGES) resolve();
      }
    }),
  );
  subscriber.write(resp('SUBSCRIBE', 'bench_fanout'));
  await ready;

  let acknowledged = 0;
  let waiting = null;
  publisher.on('data', (chunk) => {
    acknowledged += (chunk.toString('latin1').match(/:\d+\r\n/g) ?? []).length;
    waiting?.();
  });
  const started = performance.now();
  for (let n = 0; n < MESSAGES; n += 1) {
    while (n - acknowledged >= window) await new Promise((resolve) => (waiting = resolve));
    publisher.write(resp('PUBLISH', 'bench_fanout', payload(n)));
  }
  await done;
  report(`redis PUBLISH, ${window} in flight`, started, delays);
  subscriber.destroy();
  publisher.destroy();
}

async function main() {
  console.log(JSON.stringify({ messages: MESSAGES, payloadBytes: Buffer.byteLength(payload(0)), node: process.version }));
  await postgres(1);
  await postgres(16);
  await redis(1);
  await redis(16);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
