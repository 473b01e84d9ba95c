import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** The built server (`node dist/main.js`), started as its own process exactly as `npm start` would. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');
/**
 * The compiled server the bench drives: dist/ of this checkout, or BENCH_DIST_DIR (e.g. a copy of
 * another build, to compare two versions on the same machine in alternation).
 */
export const DIST_DIR = path.resolve(process.env.BENCH_DIST_DIR || path.join(REPO_ROOT, 'dist'));
export const SERVER_ENTRY = path.join(DIST_DIR, 'main.js');

export interface ServerProcess {
  pid: number;
  /** Started with WEB_CONCURRENCY other than 1: `pid` is the primary, its children the workers. */
  withWorkers?: boolean;
  host: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<number | null>;
}

export interface StartOptions {
  env: Record<string, string | undefined>;
  logFile: string;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  readyTimeoutMs?: number;
}

/**
 * The node flags of `npm start` (package.json's start script, `node <flags> dist/main.js`): the bench
 * runs the server exactly as it is started in production, minus the build step.
 */
export function startScriptNodeFlags(): string[] {
  const { scripts } = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const match = /^node\s+(.*?)\s*dist\/main\.js\s*$/.exec(scripts.start ?? '');
  if (!match) throw new Error(`package.json's start script is not "node [flags] dist/main.js": ${scripts.start}`);
  return match[1]!.split(/\s+/).filter((flag) => flag !== '');
}

/** A free loopback port other than 5432. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    if (port !== 5432) return port;
  }
}

export { sleep };

/** GET over a fresh socket; resolves with the status, or null when nothing listens yet. */
export function httpGetStatus(host: string, port: number, urlPath: string): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let data = '';
    const done = (status: number | null) => {
      socket.destroy();
      resolve(status);
    };
    socket.setTimeout(2000, () => done(null));
    socket.once('error', () => done(null));
    socket.once('connect', () => socket.write(`GET ${urlPath} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (data.includes('\r\n')) done(Number(data.slice(9, 12)));
    });
  });
}

/** Spawns the server process; does not wait for it. */
export function spawnServer(options: StartOptions): ChildProcess {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(process.execPath, [...startScriptNodeFlags(), ...(options.nodeFlags ?? []), SERVER_ENTRY], {
    cwd: REPO_ROOT,
    env: options.env as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  child.once('exit', () => log.end());
  return child;
}

/** Sends SIGTERM and waits for the exit (SIGKILL after the grace period). */
export function stopChild(child: ChildProcess, graceMs = 15_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill('SIGTERM');
  });
}

/** Starts the server and waits until /readyz answers 200. */
export async function startServer(options: StartOptions): Promise<ServerProcess> {
  const host = options.env.HOST ?? '127.0.0.1';
  const port = Number(options.env.PORT);
  const child = spawnServer(options);
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = `exited with ${code ?? signal}`));
  const deadline = performance.now() + (options.readyTimeoutMs ?? 60_000);
  while (performance.now() < deadline) {
    if (exited) throw new Error(`the server ${exited} before it was ready; see ${options.logFile}`);
    if ((await httpGetStatus(host, port, '/readyz')) === 200) {
      const withWorkers = (options.env.WEB_CONCURRENCY ?? '') !== '1';
      return { pid: child.pid!, withWorkers, host, port, child, stop: () => stopChild(child) };
    }
    await sleep(50);
  }
  await stopChild(child);
  throw new Error(`the server was not ready in time; see ${options.logFile}`);
}

/** DB_POOL_MAX the server uses when none is set, read from the built config so the two cannot drift. */
export function serverDefaultPoolMax(): number {
  const { loadConfig } = require(path.join(DIST_DIR, 'platform', 'config.js')) as {
    loadConfig(env: Record<string, string>): { databasePoolMax: number };
  };
  return loadConfig({}).databasePoolMax;
}
