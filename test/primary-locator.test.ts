import net from 'node:net';
import pg from 'pg';
import { describeHost, parseDatabaseUrl } from '../src/platform/database-url.core';
import { connectDatabase } from '../src/platform/db';
import { classifyError } from '../src/platform/graphql-errors';
import { NoPrimaryError, PrimaryLocator, dedicatedClient } from '../src/platform/primary-locator';
import { createProgram, createAccount, issue, ISSUE, key } from './support/builders';
import { cloneTestDatabase } from './support/databases';
import { PgProxy } from './support/pg-proxy';
import { startTestServer } from './support/server';

/**
 * A `DATABASE_URL` listing several hosts, against the machine's real PostgreSQL: relays on loopback ports
 * (test/support/pg-proxy.ts) stand for the hosts, and each can be made to refuse connections, to start its
 * sessions read-only as a standby's are, or to drop every connection as a dying primary does.
 */

let database: { url: string; drop(): Promise<void> };
let server: { host: string; port: number };
let proxies: PgProxy[] = [];

beforeAll(async () => {
  database = await cloneTestDatabase();
  const url = new URL(database.url);
  server = { host: url.hostname, port: Number(url.port || 5432) };
});

afterAll(async () => {
  await database.drop();
});

afterEach(async () => {
  await Promise.all(proxies.map((proxy) => proxy.close()));
  proxies = [];
});

async function proxy(): Promise<PgProxy> {
  const started = await PgProxy.start(server);
  proxies.push(started);
  return started;
}

/** A port nothing listens on: bound once, then released. */
async function deadPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** This file's database URL with its host replaced by a host list. */
function hostList(ports: number[], query = ''): string {
  const url = new URL(database.url);
  const hosts = ports.map((port) => `127.0.0.1:${port}`).join(',');
  return `postgresql://${url.username}${url.password ? `:${url.password}` : ''}@${hosts}${url.pathname}${query}`;
}

function locatorFor(url: string): PrimaryLocator {
  const targets = parseDatabaseUrl(url);
  return new PrimaryLocator({ ...targets, probeTimeoutMs: 2_000 });
}

describe('locating the primary', () => {
  it('skips a host that refuses connections and takes the live one after it', async () => {
    const dead = await deadPort();
    const db = connectDatabase(hostList([dead, server.port]), 4);
    try {
      const { rows } = await db.pool.query<{ one: number }>('SELECT 1 AS one');
      expect(rows).toEqual([{ one: 1 }]);
      expect(db.locator?.primary).toEqual({ host: '127.0.0.1', port: server.port });
      // Prisma draws on the same pool, so it lands on the same primary.
      expect(await db.prisma.$queryRaw`SELECT current_setting('transaction_read_only') AS ro`).toEqual([{ ro: 'off' }]);
    } finally {
      await db.close();
    }
  });

  it('skips a host whose sessions are read-only, as a standby or a demoted primary is', async () => {
    const standby = await proxy();
    await standby.setMode('read-only');
    const primary = await proxy();
    const locator = locatorFor(hostList([standby.port, primary.port]));
    expect(await locator.find()).toEqual({ host: '127.0.0.1', port: primary.port });
    expect(standby.accepted).toBe(1);
  });

  it('takes a read-only host under target_session_attrs=any and a not-in-recovery one under primary', async () => {
    const readOnly = await proxy();
    await readOnly.setMode('read-only');
    const writable = await proxy();
    const any = locatorFor(hostList([readOnly.port, writable.port], '?target_session_attrs=any'));
    expect((await any.find()).port).toBe(readOnly.port);
    // `primary` checks recovery only: a primary that pg_auto_failover has set read-only still passes, which is
    // why the README says to use read-write with it.
    const primary = locatorFor(hostList([readOnly.port, writable.port], '?target_session_attrs=primary'));
    expect((await primary.find()).port).toBe(readOnly.port);
  });

  it('names every host and why it was passed over when none is writable, as a retryable error', async () => {
    const dead = await deadPort();
    const standby = await proxy();
    await standby.setMode('read-only');
    const locator = locatorFor(hostList([dead, standby.port]));
    const error = await locator.find().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NoPrimaryError);
    expect((error as NoPrimaryError).verdicts).toEqual([
      expect.stringMatching(new RegExp(`^127\\.0\\.0\\.1:${dead}: .*ECONNREFUSED`)),
      `127.0.0.1:${standby.port}: read-only`,
    ]);
    expect(classifyError(error)).toMatchObject({ retryable: true, code: 'INTERNAL_SERVER_ERROR' });
  });

  it('shares one search among a burst of connections', async () => {
    const primary = await proxy();
    const dead = await deadPort();
    const db = connectDatabase(hostList([dead, primary.port]), 8);
    try {
      await Promise.all(Array.from({ length: 8 }, () => db.pool.query('SELECT pg_sleep(0.05)')));
      expect(db.locator?.searches).toBe(1);
      expect(primary.accepted).toBe(1 + 8);
    } finally {
      await db.close();
    }
  });

  it('retires a connection that meets a read-only refusal, and looks again', async () => {
    const first = await proxy();
    const second = await proxy();
    const db = connectDatabase(hostList([first.port, second.port]), 1);
    try {
      const client = await db.pool.connect();
      // A refusal Postgres gives only to a read-only session: as a write reaching a demoted primary gets it.
      await client.query('BEGIN READ ONLY');
      const refusal = await client.query('CREATE TEMP TABLE t (x int)').catch((error: unknown) => error);
      expect((refusal as { code?: string }).code).toBe('25006');
      expect(classifyError(refusal)).toMatchObject({ retryable: true });
      expect(db.locator?.primary).toBeNull();
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
      // The pool's next connection is a fresh search: the first host is a standby now, the second is taken.
      await first.setMode('read-only');
      const { rows } = await db.pool.query<{ ro: string }>("SELECT current_setting('transaction_read_only') AS ro");
      expect(rows).toEqual([{ ro: 'off' }]);
      expect(db.locator?.primary?.port).toBe(second.port);
      expect(db.pool.totalCount).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('marks a read-only refusal met through Prisma retryable, and looks again', async () => {
    const first = await proxy();
    const second = await proxy();
    const db = connectDatabase(hostList([first.port, second.port]), 2);
    try {
      // Prisma wraps the refusal (P2039 for a model query) with Postgres's 25006 inside.
      const refusal = await db.prisma
        .$transaction(async (tx) => {
          await tx.$executeRawUnsafe('SET TRANSACTION READ ONLY');
          await tx.ledger.deleteMany({ where: { id: '00000000-0000-7000-8000-000000000000' } });
        })
        .catch((error: unknown) => error);
      expect(classifyError(refusal)).toMatchObject({ retryable: true });
      expect(db.locator?.primary).toBeNull();
      await first.setMode('read-only');
      expect(await db.prisma.ledger.count({ where: { id: '00000000-0000-7000-8000-000000000000' } })).toBe(0);
      expect(db.locator?.primary?.port).toBe(second.port);
    } finally {
      await db.close();
    }
  });

  it('retires a session the server reports read-only, failing its next statement as retryable', async () => {
    const first = await proxy();
    const db = connectDatabase(hostList([first.port, (await proxy()).port]), 1);
    try {
      const client = await db.pool.connect();
      // Setting the session's default read-only is reported by the server, as a reload that demotes a primary is.
      await client.query('SET default_transaction_read_only = on');
      const next = await client.query('SELECT 1').catch((error: unknown) => error);
      expect(classifyError(next)).toMatchObject({ retryable: true });
      client.release(next as Error);
      expect(db.locator?.primary).toBeNull();
      const { rows } = await db.pool.query<{ ro: string }>("SELECT current_setting('transaction_read_only') AS ro");
      expect(rows).toEqual([{ ro: 'off' }]);
    } finally {
      await db.close();
    }
  });
});

describe('the API on a host list', () => {
  it('moves to the new primary without a restart, answering retryable errors meanwhile', async () => {
    const first = await proxy();
    const second = await proxy();
    const t = await startTestServer({ database: { url: hostList([first.port, second.port]), drop: async () => {} } });
    try {
      const program = await createProgram(t);
      const account = await createAccount(t, program.ledgerId);
      await issue(t, account.id, '10');
      expect(t.db.locator?.primary?.port).toBe(first.port);
      expect(first.open).toBeGreaterThan(0);

      // The first host dies and comes back as a standby; the second is promoted.
      await first.setMode('read-only');
      first.cut();
      const errors: Array<{ code: string; retryable: boolean }> = [];
      const idempotencyKey = key('failover');
      let answer = await t.gql(ISSUE, { input: { accountId: account.id, asset: 'PTS', amount: '5', idempotencyKey } });
      for (let attempt = 0; answer.errors && attempt < 20; attempt += 1) {
        errors.push(...answer.errors.map((error) => error.extensions));
        await new Promise((resolve) => setTimeout(resolve, 50));
        answer = await t.gql(ISSUE, { input: { accountId: account.id, asset: 'PTS', amount: '5', idempotencyKey } });
      }
      expect(answer.errors).toBeUndefined();
      expect(errors.filter((error) => error.retryable !== true)).toEqual([]);
      expect(t.db.locator?.primary?.port).toBe(second.port);

      // The event listener follows too: its session is on the second host now, none is left on the first.
      const listener = await waitFor(async () => {
        const { rows } = await t.db.pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'reward-ledger-listener' AND datname = current_database()",
        );
        return rows[0].n === 1 ? rows[0].n : null;
      });
      expect(listener).toBe(1);
      expect(first.open).toBe(0);

      const replay = await t.gql(ISSUE, {
        input: { accountId: account.id, asset: 'PTS', amount: '5', idempotencyKey },
      });
      expect(replay.data?.issue.replayed).toBe(true);
      const { rows } = await t.db.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM transactions WHERE idempotency_key = $1',
        [idempotencyKey],
      );
      expect(rows).toEqual([{ n: 1 }]);
    } finally {
      await t.stop();
    }
  });

  it('answers a posting whose reply was lost as retryable, and its retry with the same key replays it', async () => {
    const first = await proxy();
    const second = await proxy();
    const t = await startTestServer({ database: { url: hostList([first.port, second.port]), drop: async () => {} } });
    const direct = new pg.Client({ connectionString: database.url });
    await direct.connect();
    try {
      const program = await createProgram(t);
      const account = await createAccount(t, program.ledgerId);
      const idempotencyKey = key('lost-reply');
      const input = { accountId: account.id, asset: 'PTS', amount: '7', idempotencyKey };
      // The primary commits the posting, then dies before its reply leaves.
      first.loseRepliesAfter = idempotencyKey;
      const pending = t.gql(ISSUE, { input });
      const committed = await waitFor(async () => {
        const { rows } = await direct.query<{ id: string }>('SELECT id FROM transactions WHERE idempotency_key = $1', [
          idempotencyKey,
        ]);
        return rows[0]?.id ?? null;
      });
      expect(committed).not.toBeNull();
      await first.setMode('read-only');
      first.cut();
      const lost = await pending;
      expect(lost.errors?.map((error) => error.extensions)).toEqual([
        expect.objectContaining({ code: 'INTERNAL_SERVER_ERROR', retryable: true }),
      ]);

      // The client cannot know whether it committed; its retry tells: the same transaction, replayed.
      const retry = await t.gql(ISSUE, { input });
      expect(retry.data?.issue).toMatchObject({ replayed: true, transaction: { id: committed } });
      const { rows } = await direct.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM transactions WHERE idempotency_key = $1',
        [idempotencyKey],
      );
      expect(rows).toEqual([{ n: 1 }]);
    } finally {
      await direct.end();
      await t.stop();
    }
  });

  it('gives a dedicated session the pool’s way of connecting', async () => {
    const dead = await deadPort();
    const db = connectDatabase(hostList([dead, server.port]), 1);
    try {
      const client = dedicatedClient(db.pool, { application_name: 'reward-ledger-test' });
      await client.connect();
      const { rows } = await client.query<{ port: number }>('SELECT inet_server_port() AS port');
      expect(rows).toEqual([{ port: server.port }]);
      await client.end();
      expect(describeHost(db.locator!.primary!)).toBe(`127.0.0.1:${server.port}`);
    } finally {
      await db.close();
    }
  });

  it('leaves a single-host URL to node-postgres as before', () => {
    const db = connectDatabase(database.url, 1);
    expect(db.locator).toBeNull();
    expect(db.pool.options.Client).toBeUndefined();
    return db.close();
  });
});

async function waitFor<T>(probe: () => Promise<T | null>, attempts = 100): Promise<T | null> {
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    const value = await probe();
    if (value !== null) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return null;
}
