import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './global-setup';

/**
 * A pg_auto_failover formation on loopback ports under a scratch directory: a monitor, and two Postgres
 * nodes with synchronous replication between them (pg_autoctl's defaults: `synchronous_standby_names =
 * 'ANY 1 (...)'`, `synchronous_commit = on`). pg_autoctl refuses to run as root, so as root every command runs
 * as the `postgres` OS user, who owns the scratch directory. Each pg_autoctl leads its own process group,
 * so a node can be killed whole (its keeper and its Postgres) as when its machine dies.
 */

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const PG_AUTOCTL = process.env.PG_AUTOCTL ?? '/usr/bin/pg_autoctl';
export const DATABASE = 'ledger';

export interface FormationNode {
  name: string;
  port: number;
  pgdata: string;
  child: ChildProcess;
}

export interface Formation {
  dir: string;
  monitorPort: number;
  nodes: FormationNode[];
  /** The API's URL: every node, primary first, with target_session_attrs=read-write. */
  url: string;
  nodeUrl(node: FormationNode): string;
  /** The monitor's view: node name → reported state. */
  states(): Promise<Map<string, { reported: string; goal: string; port: number }>>;
  /**
   * Kills a node's postmaster with SIGKILL; with `keeper`, first its pg_autoctl (keeper and supervisor), so
   * nothing restarts it, as when the machine dies. Without, the keeper restarts Postgres on the same node.
   */
  killNode(node: FormationNode, options: { keeper: boolean }): Promise<{ postmasterPid: number }>;
  log(node: FormationNode | 'monitor'): Promise<string>;
  destroy(): Promise<void>;
}

/** Why the formation cannot be built here, or null when it can. */
export function missingTools(): string | null {
  if (!existsSync(PG_AUTOCTL)) return `${PG_AUTOCTL} is missing: apt-get install -y postgresql-15-auto-failover`;
  if (!existsSync(path.join(PG_BIN, 'pg_ctl'))) return `${PG_BIN}/pg_ctl is missing (PG_BIN names the directory)`;
  return null;
}

const asRoot = process.getuid?.() === 0;

export async function createFormation(options: { log?: (line: string) => void } = {}): Promise<Formation> {
  const log = options.log ?? (() => undefined);
  // As root the directory must be reachable by the postgres user: /tmp, whatever TMPDIR says.
  const dir = await mkdtemp(path.join(asRoot ? '/tmp' : os.tmpdir(), 'rl-failover-'));
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    await chown(dir, uid, gid);
  }
  await chmod(dir, 0o700);
  // pg_autoctl keeps its configuration and state under XDG directories: inside the scratch directory, so
  // nothing is left in the postgres user's home.
  const env: NodeJS.ProcessEnv = {
    PATH: `${PG_BIN}:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: dir,
    XDG_CONFIG_HOME: path.join(dir, 'config'),
    XDG_DATA_HOME: path.join(dir, 'share'),
    XDG_RUNTIME_DIR: path.join(dir, 'run'),
    LANG: 'C.UTF-8',
  };
  const children: ChildProcess[] = [];
  const run = (args: string[], name: string): ChildProcess => {
    const [command, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', PG_AUTOCTL, ...args]] : [PG_AUTOCTL, args];
    const child = spawn(command, argv, { env, cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 1_000_000) output = output.slice(-500_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    (child as ChildProcess & { output: () => string }).output = () => output;
    child.on('exit', (code, signal) => log(`${name}: pg_autoctl exited (${code ?? signal})`));
    child.on('error', (error) => log(`${name}: pg_autoctl did not start: ${error.message}`));
    children.push(child);
    return child;
  };

  const monitorPort = await freePort();
  const monitorUrl = `postgresql://autoctl_node@127.0.0.1:${monitorPort}/pg_auto_failover?sslmode=disable`;
  const common = ['--hostname', '127.0.0.1', '--auth', 'trust', '--no-ssl', '--run'];
  const monitor = run(
    ['create', 'monitor', '--pgdata', path.join(dir, 'monitor'), '--pgport', String(monitorPort), ...common],
    'monitor',
  );
  const nodes: FormationNode[] = [];
  const formation: Formation = {
    dir,
    monitorPort,
    nodes,
    url: '',
    nodeUrl: (node) => `postgresql://postgres@127.0.0.1:${node.port}/${DATABASE}`,
    async states() {
      const client = new pg.Client({ connectionString: monitorUrl });
      await client.connect();
      try {
        const { rows } = await client.query<{
          nodename: string;
          reportedstate: string;
          goalstate: string;
          nodeport: number;
        }>('SELECT nodename, reportedstate::text, goalstate::text, nodeport FROM pgautofailover.node');
        return new Map(
          rows.map((row) => [row.nodename, { reported: row.reportedstate, goal: row.goalstate, port: row.nodeport }]),
        );
      } finally {
        await client.end();
      }
    },
    async killNode(node, { keeper }) {
      const postmasterPid = Number((await readFile(path.join(node.pgdata, 'postmaster.pid'), 'utf8')).split('\n')[0]);
      if (keeper) killGroup(node.child, 'SIGKILL');
      try {
        process.kill(postmasterPid, 'SIGKILL');
      } catch {
        // Already gone with its process group.
      }
      return { postmasterPid };
    },
    async log(node) {
      const child = node === 'monitor' ? monitor : node.child;
      return (child as ChildProcess & { output: () => string }).output();
    },
    async destroy() {
      for (const child of children) killGroup(child, 'SIGTERM');
      await waitUntil(
        async () => children.every((child) => child.exitCode !== null || child.signalCode !== null),
        20_000,
      );
      for (const child of children) killGroup(child, 'SIGKILL');
      // Postgres started by a killed keeper may outlive it: stop whatever still runs on the scratch data.
      for (const name of ['monitor', ...nodes.map((node) => node.name)]) {
        const pidFile = path.join(dir, name, 'postmaster.pid');
        if (!existsSync(pidFile)) continue;
        const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Not running.
        }
      }
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    await waitUntil(() => isReady(monitorPort), 60_000, 'the monitor did not start');
    log(`monitor on 127.0.0.1:${monitorPort}`);
    for (const name of ['node1', 'node2']) {
      const port = await freePort();
      const pgdata = path.join(dir, name);
      const child = run(
        [
          'create',
          'postgres',
          '--pgdata',
          pgdata,
          '--pgport',
          String(port),
          '--name',
          name,
          '--dbname',
          DATABASE,
          '--monitor',
          monitorUrl,
          ...common,
        ],
        name,
      );
      nodes.push({ name, port, pgdata, child });
      const wanted = name === 'node1' ? ['single'] : ['secondary'];
      await waitUntil(
        async () => {
          const states = await formation.states().catch(() => new Map());
          // The standby's base backup waits for a checkpoint on the primary; asking for one now saves minutes.
          if (name === 'node2') await checkpoint(nodes[0]!.port);
          return wanted.includes(states.get(name)?.reported ?? '');
        },
        240_000,
        `${name} did not reach ${wanted.join('/')}`,
        1_000,
      );
      log(`${name} on 127.0.0.1:${port} is ${wanted.join('/')}`);
    }
    await waitUntil(
      async () => (await formation.states()).get('node1')?.reported === 'primary',
      60_000,
      'node1 did not become primary',
    );
    formation.url = `postgresql://postgres@${nodes.map((node) => `127.0.0.1:${node.port}`).join(',')}/${DATABASE}?target_session_attrs=read-write`;
    return formation;
  } catch (error) {
    for (const child of children) {
      log(`--- ${child.spawnargs.join(' ')}\n${(child as ChildProcess & { output: () => string }).output?.() ?? ''}`);
    }
    await formation.destroy();
    throw error;
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone.
  }
}

async function isReady(port: number): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return true;
  } catch (error) {
    // Refused while starting; any answer from Postgres itself (even "no such role") means it is up.
    return (error as { code?: string }).code !== undefined && !/^(ECONN|57P03)/.test((error as { code: string }).code);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function checkpoint(port: number): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('CHECKPOINT');
  } catch {
    // Not up yet, or busy: the next round asks again.
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function waitUntil(
  condition: () => Promise<boolean>,
  timeoutMs: number,
  message = 'condition not met',
  intervalMs = 250,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${message} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
