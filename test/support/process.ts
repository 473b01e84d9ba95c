import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const MAIN = path.resolve(__dirname, '../../dist/main.js');

/** The built server (`npm start`'s program) running as its own process. */
export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  /** Resolves with the exit code (or the signal's name) once the process is gone. */
  exited: Promise<number | string>;
  /** Sends `signal` (SIGTERM by default) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Starts dist/main.js on a free loopback port with `env` over the test's own, and waits until it listens. */
export async function startServerProcess(
  env: NodeJS.ProcessEnv,
  options: { inherit?: boolean } = {},
): Promise<ServerProcess> {
  if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: `npm test` builds it first (npm run build)');
  const base = options.inherit === false ? {} : process.env;
  const child = spawn(process.execPath, [MAIN], {
    // One process unless a test asks for workers (WEB_CONCURRENCY), so that tests see what they always did.
    env: { ...base, PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'test', LOG_LEVEL: 'warn', WEB_CONCURRENCY: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watchServer(child);
}

/**
 * Follows a spawned server until it prints where it listens. With `group`, the child leads its own process
 * group (spawned `detached`) and signals go to the whole group, as a terminal's Ctrl-C does to `npm start`.
 */
export async function watchServer(
  child: ChildProcess,
  options: { group?: boolean; startTimeoutMs?: number } = {},
): Promise<ServerProcess> {
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start:\n${output}`)),
      options.startTimeoutMs ?? 45_000,
    );
    child.stdout!.on('data', () => {
      const match = /listening on (http:\/\/\S+\/graphql)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exited.then((code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
  return {
    child,
    url,
    output: () => output,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      if (options.group) process.kill(-child.pid!, signal);
      else child.kill(signal);
      return exited;
    },
  };
}
