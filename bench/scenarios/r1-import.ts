import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { once } from 'node:events';
import { postOnce } from '../lib/http-client.js';
import { limitRow, type Scenario } from './scenario.js';

/**
 * R1: the streamed reconciliation import (POST /reconciliation/sources/{id}/records) of a CSV file of
 * 100,000 and of 1,000,000 records into a new source, timed from the first byte sent to the answer, with
 * the server's resident memory sampled every 20 ms: the peak above what it held just before the upload.
 * The file is written to a scratch folder first, so generating it is not measured.
 */
// BENCH_IMPORT_SIZES=100000 measures only the smaller file, for iteration.
const SIZES = process.env.BENCH_IMPORT_SIZES?.split(',').map(Number) ?? [100_000, 1_000_000];
const RSS_SAMPLE_MS = 20;

async function writeCsv(file: string, rows: number, asset: string): Promise<number> {
  const out = createWriteStream(file);
  out.write('externalId,asset,amount,direction,occurredAt,reference,accountCode\n');
  const base = Date.parse('2026-11-01T00:00:00Z');
  let batch = '';
  for (let i = 0; i < rows; i += 1) {
    const at = new Date(base + i * 1000).toISOString();
    batch += `ext-${i},${asset},${1 + (i % 50_000)},${i % 3 === 0 ? 'DEBIT' : 'CREDIT'},${at},order-${i},customer-${i % 10_000}\n`;
    if (batch.length > 1 << 20) {
      if (!out.write(batch)) await once(out, 'drain');
      batch = '';
    }
  }
  out.end(batch);
  await once(out, 'finish');
  return (await stat(file)).size;
}

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? NaN : Number(kb) * 1024;
}

function upload(
  host: string,
  port: number,
  route: string,
  secret: string,
  file: string,
  size: number,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host,
        port,
        path: route,
        method: 'POST',
        headers: {
          authorization: `Bearer ${secret}`,
          'content-type': 'text/csv',
          'content-length': String(size),
          'idempotency-key': `bench-${Date.now()}-${Math.random()}`,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    createReadStream(file, { highWaterMark: 256 * 1024 }).pipe(request);
  });
}

export const r1: Scenario = {
  id: 'R1',
  title: 'reconciliation import over HTTP (CSV, 100k and 1M records): rows/s and the server’s RSS growth',
  phase: 'after',
  async measure(ctx) {
    const { server, fixture } = ctx;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rl-bench-import-'));
    const figures: Record<string, number> = {};
    try {
      for (const rows of SIZES) {
        const file = path.join(dir, `records-${rows}.csv`);
        const size = await writeCsv(file, rows, fixture.assetCode);
        const endpoint = {
          host: server.host,
          port: server.port,
          path: '/graphql',
          authorization: `Bearer ${fixture.secrets.admin}`,
        };
        const created = await postOnce(endpoint, {
          query: 'mutation($i: CreateExternalSourceInput!) { createExternalSource(input: $i) { id } }',
          variables: { i: { ledgerId: fixture.rootLedgerId, code: `bench-${rows}-${Date.now()}`, name: 'bench' } },
        });
        const sourceId = created.json.data?.createExternalSource?.id;
        if (typeof sourceId !== 'string')
          throw new Error(`createExternalSource failed: ${JSON.stringify(created.json)}`);
        const before = await rssBytes(server.pid);
        let peak = before;
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            peak = Math.max(peak, await rssBytes(server.pid));
            await new Promise((resolve) => setTimeout(resolve, RSS_SAMPLE_MS));
          }
        })();
        const started = performance.now();
        const answer = await upload(
          server.host,
          server.port,
          `/reconciliation/sources/${sourceId}/records`,
          fixture.secrets.operator,
          file,
          size,
        );
        const seconds = (performance.now() - started) / 1000;
        sampling = false;
        await sampler;
        const result = JSON.parse(answer.body);
        if (answer.status !== 201 || result.inserted !== rows)
          throw new Error(`the import of ${rows} rows answered ${answer.status}: ${answer.body.slice(0, 500)}`);
        const key = rows === 100_000 ? '100k' : '1m';
        figures[`rowsPerSecond${key}`] = rows / seconds;
        figures[`seconds${key}`] = seconds;
        figures[`rssGrowthMb${key}`] = (peak - before) / 1048576;
        figures[`rssPeakMb${key}`] = peak / 1048576;
        figures[`fileMb${key}`] = size / 1048576;
        ctx.log(
          `R1: ${rows} rows (${(size / 1048576).toFixed(0)} MB) in ${seconds.toFixed(1)} s = ${(rows / seconds).toFixed(0)} rows/s; RSS ${(before / 1048576).toFixed(0)} → peak ${(peak / 1048576).toFixed(0)} MB`,
        );
        await rm(file, { force: true });
      }
      return { figures };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
  targets: (all) => [
    limitRow({
      scenario: 'R1',
      figure: 'import rows/s, 100,000 records',
      value: all.R1?.rowsPerSecond100k,
      unit: 'rows/s',
      atLeast: 50_000,
    }),
    limitRow({
      scenario: 'R1',
      figure: 'import rows/s, 1,000,000 records',
      value: all.R1?.rowsPerSecond1m,
      unit: 'rows/s',
      atLeast: 50_000,
    }),
    limitRow({
      scenario: 'R1',
      figure: 'server RSS growth, 100,000 records',
      value: all.R1?.rssGrowthMb100k,
      unit: 'MB',
      atMost: 100,
    }),
    limitRow({
      scenario: 'R1',
      figure: 'server RSS growth, 1,000,000 records',
      value: all.R1?.rssGrowthMb1m,
      unit: 'MB',
      atMost: 100,
      note: `peak RSS ${all.R1?.rssPeakMb1m?.toFixed(0) ?? '?'} MB`,
    }),
  ],
};
