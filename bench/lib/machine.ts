import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { withClient } from './db.js';
import { REPO_ROOT } from './server.js';

/** Facts that make a run's figures interpretable on another machine. */
export interface MachineFacts {
  at: string;
  hostname: string;
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  kernel: string;
  loadAverageAtStart: number[];
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  pgbench: string | null;
  git: { commit: string; branch: string; dirty: boolean };
}

const SETTINGS = [
  'shared_buffers',
  'synchronous_commit',
  'fsync',
  'wal_sync_method',
  'max_connections',
  'work_mem',
  'max_wal_size',
  'checkpoint_timeout',
  'shared_preload_libraries',
];

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export async function machineFacts(adminUrl: string, pgbench: string | null): Promise<MachineFacts> {
  const { version, settings } = await withClient(adminUrl, async (client) => {
    const { rows } = await client.query<{ version: string }>('SELECT version()');
    const settingRows = await client.query<{ name: string; value: string }>(
      'SELECT name, current_setting(name) AS value FROM pg_settings WHERE name = ANY($1) ORDER BY name',
      [SETTINGS],
    );
    return {
      version: rows[0]!.version,
      settings: Object.fromEntries(settingRows.rows.map((row) => [row.name, row.value])),
    };
  });
  return {
    at: new Date().toISOString(),
    hostname: os.hostname(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    loadAverageAtStart: os.loadavg().map((value) => Math.round(value * 100) / 100),
    node: process.version,
    postgres: version,
    postgresSettings: settings,
    pgbench,
    // Dirty means tracked files differ from the commit (results written by earlier runs do not count).
    git: {
      commit: git(['rev-parse', '--short', 'HEAD']),
      branch: git(['rev-parse', '--abbrev-ref', 'HEAD']),
      dirty:
        git(['status', '--porcelain', '--untracked-files=no', '--', '.', ':!BENCHMARKS.md', ':!bench/results']) !== '',
    },
  };
}
