// Posting throughput with and without live subscribers, and how long an event takes to reach them,
// on this instance and across instances (LISTEN/NOTIFY). Also measures why NOTIFY is never sent inside
// the posting transaction. Run: npm run bench:subscriptions (needs a PostgreSQL; BENCH_DATABASE_URL,
// default postgresql://postgres@127.0.0.1:5432/postgres, must allow CREATE DATABASE).
//
// Servers run as their own processes (dist/main.js); this process is the load generator and the
// subscribers, so server CPU is not shared with the clients' bookkeeping.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const pg = require('pg');
const WebSocket = require('ws');
const { createClient } = require('graphql-ws');

const ADMIN_URL = process.env.BENCH_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres';
const ADMIN_KEY = 'bench-admin-key-0123456789abcdefghijkl';
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS || 1000);
const POSTINGS = Number(process.env.BENCH_POSTINGS || 4000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY || 32);
// Scenarios run interleaved this many times; the median is reported, since a shared machine is noisy.
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const MAIN = path.resolve(__dirname, '../dist/main.js');

function databaseUrl(name) {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin(sql) {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function startServer(env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'production', GRAPHIQL: 'false', LOG_LEVEL: 'error', ADMIN_API_KEY: ADMIN_KEY, DB_POOL_MAX: '20', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/\S+\/graphql)/.exec(output);
      if (match) resolve({ url: match[1], stop: () => new Promise((done) => (child.once('exit', done), child.kill('SIGTERM'))) });
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output}`)));
  });
}

async function gql(url, query, variables) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` }, body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

async function setUp(url, accounts) {
  const ledgerId = (await gql(url, 'mutation { createLedger(input: { code: "bench", name: "Bench" }) { id } }')).createLedger.id;
  await gql(url, 'mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "PTS", name: "Points", kind: POINTS, scale: 0 }) { id } }', { l: ledgerId });
  const ids = [];
  for (let start = 0; start < accounts; start += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, accounts - start) }, (_, i) =>
        gql(url, 'mutation($l: ID!, $c: String!) { createAccount(input: { ledgerId: $l, code: $c }) { id } }', { l: ledgerId, c: `customer:${start + i}` }).then((d) => d.createAccount.id),
      ),
    );
    ids.push(...batch);
  }
  return ids;
}

/** One graphql-ws connection per account, each following its balance; resolves once all are live. */
async function subscribe(url, accountIds, onEvent) {
  const clients = [];
  let live = 0;
  await new Promise((resolve) => {
    for (const accountId of accountIds) {
      const client = createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${ADMIN_KEY}` } });
      clients.push(client);
      let first = true;
      client.subscribe(
        { query: 'subscription($id: ID!) { balanceUpdated(accountId: $id, asset: "PTS", includeCurrent: true) { version } }', variables: { id: accountId } },
        {
          next: ({ data }) => {
            if (first) {
              first = false;
              if ((live += 1) === accountIds.length) resolve();
              return;
            }
            onEvent(accountId, data.balanceUpdated.version);
          },
          error: (error) => console.error('subscriber error', error),
          complete: () => undefined,
        },
      );
    }
  });
  return () => Promise.all(clients.map((client) => client.dispose()));
}

/** Issues POSTINGS points postings, round-robin over the accounts, CONCURRENCY at a time. */
async function load(url, accountIds, onPosted) {
  let next = 0;
  const latencies = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < POSTINGS) {
        const n = next++;
        const accountId = accountIds[n % accountIds.length];
        const sent = performance.now();
        onPosted?.(accountId, sent);
        await gql(url, 'mutation($input: IssueInput!) { issue(input: $input) { replayed } }', { input: { accountId, asset: 'PTS', amount: '1', idempotencyKey: `bench-${n}` } });
        latencies.push(performance.now() - sent);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { postingsPerSecond: Math.round(POSTINGS / seconds), postingMs: summary(latencies) };
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: +at(0.5).toFixed(1), p99: +at(0.99).toFixed(1) };
}

async function scenario(name, { fanout, subscribers, crossInstance }) {
  const database = `rl_bench_${process.pid}_${name.replace(/\W+/g, '_')}`;
  await admin(`CREATE DATABASE "${database}"`);
  const env = { DATABASE_URL: databaseUrl(database), EVENT_FANOUT: fanout };
  const poster = await startServer(env);
  const watcher = crossInstance ? await startServer(env) : poster;
  try {
    const accountIds = await setUp(poster.url, Math.max(subscribers, 100));
    const sentAt = new Map();
    const delays = [];
    let delivered = 0;
    let allDelivered;
    const done = new Promise((resolve) => (allDelivered = resolve));
    const expected = subscribers === 0 ? 0 : POSTINGS;
    const dispose = subscribers === 0 ? async () => undefined : await subscribe(watcher.url, accountIds.slice(0, subscribers), (accountId, version) => {
      const sent = sentAt.get(`${accountId}:${version}`);
      if (sent !== undefined) delays.push(performance.now() - sent);
      if ((delivered += 1) === expected) allDelivered();
    });
    // The n-th posting to an account takes its balance to version n.
    const versions = new Map();
    const result = await load(poster.url, subscribers === 0 ? accountIds : accountIds.slice(0, subscribers), (accountId, sent) => {
      const version = (versions.get(accountId) ?? 0) + 1;
      versions.set(accountId, version);
      sentAt.set(`${accountId}:${version}`, sent);
    });
    if (expected > 0) await done;
    await dispose();
    const row = { scenario: name, ...result, subscribers, delivered: expected ? `${delivered}/${expected}` : '-', eventMsAfterRequest: delays.length ? summary(delays) : '-' };
    console.log(JSON.stringify(row));
    return row;
  } finally {
    await poster.stop();
    if (watcher !== poster) await watcher.stop();
    await admin(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  }
}

/**
 * Why NOTIFY stays out of the posting transaction: Postgres serializes the commits of transactions that
 * notified (one global lock). Same short write transactions, 32 clients, with and without a NOTIFY inside.
 */
async function notifyInsideTransaction() {
  const database = `rl_bench_${process.pid}_notify`;
  await admin(`CREATE DATABASE "${database}"`);
  const pool = new pg.Pool({ connectionString: databaseUrl(database), max: CONCURRENCY });
  // Dropping the database at the end disconnects whatever the pool still holds.
  pool.on('error', () => undefined);
  try {
    await pool.query('CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL)');
    await pool.query('INSERT INTO counters SELECT g, 0 FROM generate_series(1, 1000) g');
    const rows = [];
    for (const [label, notify] of [['no NOTIFY', false], ['NOTIFY inside each transaction', true]]) {
      const count = 20_000;
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          const client = await pool.connect();
          try {
            while (next < count) {
              const id = (next++ % 1000) + 1;
              await client.query('BEGIN');
              await client.query('UPDATE counters SET n = n + 1 WHERE id = $1', [id]);
              if (notify) await client.query("SELECT pg_notify('bench', $1)", [String(id)]);
              await client.query('COMMIT');
            }
          } finally {
            client.release();
          }
        }),
      );
      const row = { scenario: label, transactionsPerSecond: Math.round(count / ((performance.now() - started) / 1000)) };
      console.log(JSON.stringify(row));
      rows.push(row);
    }
    return rows;
  } finally {
    await pool.end();
    await admin(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  }
}

async function main() {
  console.log(JSON.stringify({ postings: POSTINGS, concurrency: CONCURRENCY, subscribers: SUBSCRIBERS, rounds: ROUNDS, cpus: require('node:os').cpus().length, node: process.version }));
  await notifyInsideTransaction();
  const scenarios = [
    ['local fan-out, no subscribers', { fanout: 'local', subscribers: 0 }],
    ['LISTEN/NOTIFY fan-out, no subscribers', { fanout: 'postgres', subscribers: 0 }],
    [`LISTEN/NOTIFY, ${SUBSCRIBERS} subscribers on the posting instance`, { fanout: 'postgres', subscribers: SUBSCRIBERS }],
    [`LISTEN/NOTIFY, ${SUBSCRIBERS} subscribers on another instance`, { fanout: 'postgres', subscribers: SUBSCRIBERS, crossInstance: true }],
  ];
  const results = new Map(scenarios.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const [name, options] of scenarios) results.get(name).push(await scenario(name, options));
  }
  console.log('medians over rounds:');
  for (const [name, rows] of results) {
    const median = (pick) => [...rows.map(pick)].sort((a, b) => a - b)[Math.floor(rows.length / 2)];
    console.log(JSON.stringify({
      scenario: name,
      postingsPerSecond: median((row) => row.postingsPerSecond),
      postingMsP50: median((row) => row.postingMs.p50),
      eventMsAfterRequestP50: rows[0].eventMsAfterRequest === '-' ? '-' : median((row) => row.eventMsAfterRequest.p50),
      eventMsAfterRequestP99: rows[0].eventMsAfterRequest === '-' ? '-' : median((row) => row.eventMsAfterRequest.p99),
      delivered: rows.map((row) => row.delivered).join(' '),
    }));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
