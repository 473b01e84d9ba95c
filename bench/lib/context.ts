import { fork } from 'node:child_process';
import path from 'node:path';
import type { DriverJob, DriverMessage, DriverResult, LoadMode, WorkloadRef } from './driver-protocol.js';
import { postOnce, type Endpoint } from './http-client.js';
import { startCpuWindow, type CpuWindow } from './proc.js';
import { seedCustomers, withClient } from './db.js';
import type { ServerProcess } from './server.js';

/** What every scenario gets: the running server, the seeded ledger, and a way to drive load at it. */
export interface Fixture {
  rootLedgerId: string;
  assetCode: string;
  assetId: string;
  customerIds: string[];
  /** When the seed says its rows were created; customer n's id is uuid7(seedAt, n) (see seedCustomers). */
  seedAt: number;
  issuanceId: string;
  redemptionId: string;
  secrets: { admin: string; operator: string; reader: string };
}

export interface Timing {
  warmupMs: number;
  durationMs: number;
}

export interface LoadRun extends DriverResult {
  /** Cores used by each party while the window was measured. */
  cpu: CpuWindow | null;
  /** The measured window on the monotonic clock, in microseconds (matches V8 profile timestamps). */
  windowUs: { fromUs: number; toUs: number };
}

export interface LoadSpec {
  workload: WorkloadRef;
  mode: LoadMode;
  secret: string;
  timing?: Partial<Timing>;
  seed?: number;
  requestsMax?: number;
  /** Another process to drive instead of the bench's server (H0's bare node:http server). */
  target?: ServerProcess;
}

export interface BenchContext {
  server: ServerProcess;
  fixture: Fixture;
  databaseUrl: string;
  postmasterPid: number | null;
  /** The server's DB_POOL_MAX (probes that build their own pool use the same size). */
  poolMax: number;
  timing: Timing;
  /** Figures of scenarios measured earlier in the run, as medians (S5 needs S1's maximum). */
  medians: Record<string, Record<string, number>>;
  drive(spec: LoadSpec): Promise<LoadRun>;
  /**
   * Starts another API instance on the same database with the same settings (`env` over them), as a
   * second replica would run; the caller stops it. Only `npm run bench` provides it.
   */
  startInstance?(env?: Record<string, string>): Promise<ServerProcess>;
  log(message: string): void;
}

export const DRIVER_ENTRY = path.join(__dirname, 'driver.js');
const DRIVER_GRACE_MS = 90_000;

function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Forks the load driver for one job and follows it, measuring CPU over the measured window. */
export function driveLoad(
  server: ServerProcess,
  postmasterPid: number | null,
  timing: Timing,
  spec: LoadSpec,
): Promise<LoadRun> {
  const target = spec.target ?? server;
  const endpoint: Endpoint = {
    host: target.host,
    port: target.port,
    path: '/graphql',
    authorization: `Bearer ${spec.secret}`,
  };
  const job: DriverJob = {
    endpoint,
    workload: spec.workload,
    mode: spec.mode,
    warmupMs: spec.timing?.warmupMs ?? timing.warmupMs,
    durationMs: spec.timing?.durationMs ?? timing.durationMs,
    seed: spec.seed ?? Math.floor(Math.random() * 2 ** 31),
    requestsMax: spec.requestsMax,
  };
  return new Promise((resolve, reject) => {
    const driver = fork(DRIVER_ENTRY, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let window: ReturnType<typeof startCpuWindow> | null = null;
    let cpu: CpuWindow | null = null;
    const windowUs = { fromUs: 0, toUs: 0 };
    let settled = false;
    const timer = setTimeout(
      () => {
        driver.kill('SIGKILL');
        finish(new Error('the load driver outlived its window'));
      },
      job.warmupMs + job.durationMs + DRIVER_GRACE_MS,
    );
    const finish = (error: Error | null, result?: DriverResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else {
        if (window && !cpu) cpu = window.end();
        resolve({ ...result!, cpu, windowUs });
      }
    };
    driver.on('message', (message: DriverMessage) => {
      if (message.type === 'mark' && message.mark === 'measure-start') {
        windowUs.fromUs = monotonicUs();
        window = startCpuWindow({
          serverPid: target.pid,
          serverWithChildren: target.withWorkers,
          postmasterPid,
          driverPid: driver.pid,
        });
      } else if (message.type === 'mark' && message.mark === 'measure-end') {
        windowUs.toUs = monotonicUs();
        if (window) cpu = window.end();
      } else if (message.type === 'result') {
        finish(null, message.result);
      } else if (message.type === 'error') {
        finish(new Error(`load driver failed: ${message.message}`));
      }
    });
    driver.once('exit', (code) => finish(new Error(`the load driver exited (${code}) without a result`)));
    driver.send(job);
  });
}

/** A GraphQL request for setup steps; fails on any error. */
export async function gql(
  server: ServerProcess,
  secret: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<any> {
  const endpoint: Endpoint = {
    host: server.host,
    port: server.port,
    path: '/graphql',
    authorization: `Bearer ${secret}`,
  };
  const { status, json } = await postOnce(endpoint, { query, variables });
  if (status !== 200 || json.errors?.length)
    throw new Error(`setup request failed (${status}): ${JSON.stringify(json.errors ?? json)}`);
  return json.data;
}

export const CUSTOMERS_DEFAULT = 10_000;
export const FUNDING_DEFAULT = 1_000_000n;
/** Every customer starts with this many entries: a full "last 5 entries" page (S6b) from the start. */
export const FUNDING_TRANSACTIONS = 5;

/**
 * One root ledger with a PTS asset, scoped OPERATOR and READER keys (clients use keys, not the bootstrap
 * secret), and `customers` customer accounts bulk-inserted in SQL, each funded by five ISSUE transactions.
 */
export async function createFixture(
  server: ServerProcess,
  databaseUrl: string,
  adminSecret: string,
  customers: number,
  at = new Date(),
): Promise<Fixture> {
  const ledger = (
    await gql(server, adminSecret, 'mutation($input: CreateLedgerInput!) { createLedger(input: $input) { id } }', {
      input: { code: 'bench', name: 'Benchmark program' },
    })
  ).createLedger;
  const asset = (
    await gql(server, adminSecret, 'mutation($input: CreateAssetInput!) { createAsset(input: $input) { id code } }', {
      input: { ledgerId: ledger.id, code: 'PTS', name: 'Points', kind: 'POINTS', scale: 0 },
    })
  ).createAsset;
  const key = async (role: string) =>
    (
      await gql(
        server,
        adminSecret,
        'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }',
        {
          input: { name: `bench ${role.toLowerCase()}`, role, ledgerId: ledger.id },
        },
      )
    ).createApiKey.secret as string;
  const operator = await key('OPERATOR');
  const reader = await key('READER');
  const system = await withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ id: string; code: string }>(
      'SELECT id, code FROM accounts WHERE root_ledger_id = $1 AND is_system',
      [ledger.id],
    );
    return new Map(rows.map((row) => [row.code, row.id]));
  });
  const issuanceId = system.get('system:issuance')!;
  const customerIds = await seedCustomers(databaseUrl, {
    rootLedgerId: ledger.id,
    assetId: asset.id,
    issuanceAccountId: issuanceId,
    customers,
    funding: FUNDING_DEFAULT,
    fundingTransactions: FUNDING_TRANSACTIONS,
    at,
  });
  return {
    rootLedgerId: ledger.id,
    assetCode: 'PTS',
    assetId: asset.id,
    customerIds,
    seedAt: at.getTime(),
    issuanceId,
    redemptionId: system.get('system:redemption')!,
    secrets: { admin: adminSecret, operator, reader },
  };
}
