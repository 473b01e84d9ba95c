import { spawn } from 'node:child_process';
import path from 'node:path';
import { postOnce } from '../lib/http-client.js';
import { freePort, stopChild, type ServerProcess } from '../lib/server.js';
import type { BenchContext } from '../lib/context.js';
import { S1_CONCURRENCY } from '../scenarios/s1-transfer.js';
import { ratioRow, type Scenario } from '../scenarios/scenario.js';
import { driveTypename, TYPENAME_REQUEST } from './index.js';

/**
 * H0: the F0 request against a bare `node:http` server (bench/lib/bare-http-server.ts) that answers the
 * bytes the real server answered, driven by the same driver with the same concurrency. It is measured
 * right after F0 in every round, so the two see the same machine.
 */
const BARE_SERVER_ENTRY = path.join(__dirname, '..', 'lib', 'bare-http-server.js');
const READY_TIMEOUT_MS = 10_000;

/** The body the real server answers to F0's request, so the bare server sends exactly those bytes. */
async function typenameAnswer(ctx: BenchContext): Promise<string> {
  const { status, json } = await postOnce(
    {
      host: ctx.server.host,
      port: ctx.server.port,
      path: '/graphql',
      authorization: `Bearer ${ctx.fixture.secrets.admin}`,
    },
    JSON.parse(TYPENAME_REQUEST),
  );
  if (status !== 200 || json.errors) throw new Error(`F0's request failed (${status}): ${JSON.stringify(json)}`);
  return JSON.stringify(json);
}

async function startBareServer(body: string): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [BARE_SERVER_ENTRY, String(port), body], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the bare node:http server did not start')), READY_TIMEOUT_MS);
    child.once('exit', (code) => reject(new Error(`the bare node:http server exited with ${code}`)));
    child.stdout!.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return { pid: child.pid!, host: '127.0.0.1', port, child, stop: () => stopChild(child) };
}

export const h0: Scenario = {
  id: 'H0',
  title: `probe: a bare node:http server answering F0's bytes, ${S1_CONCURRENCY} concurrent clients`,
  phase: 'round',
  async measure(ctx) {
    const bare = await startBareServer(await typenameAnswer(ctx));
    try {
      const figures = await driveTypename(ctx, bare);
      ctx.log(
        `H0: ${figures.throughput!.toFixed(0)} requests/s from bare node:http, ${figures.serverCpuUsPerRequest!.toFixed(0)} µs CPU per request, driver ${figures.driverCores!.toFixed(2)} cores`,
      );
      return { figures };
    } finally {
      await bare.stop();
    }
  },
  targets: (all) => [
    ratioRow({
      scenario: 'F0',
      figure: '{ __typename } requests/s',
      value: all.F0?.throughput,
      unit: '/s',
      reference: 'bare node:http (H0)',
      referenceValue: all.H0?.throughput,
      atLeast: 0.3,
      note: `server CPU per request: F0 ${(all.F0?.serverCpuUsPerRequest ?? NaN).toFixed(0)} µs, H0 ${(all.H0?.serverCpuUsPerRequest ?? NaN).toFixed(0)} µs`,
    }),
  ],
};
