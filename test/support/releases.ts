import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Releases as CHANGELOG.md records them, and their files as git history holds them. */

export const REPO_ROOT = path.resolve(__dirname, '../..');

export interface Release {
  version: string;
  commit: string;
}

type Semver = [number, number, number];

function parseSemver(version: string): Semver {
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  if (!match) throw new Error(`${version} is not a MAJOR.MINOR.PATCH version`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

function compareSemver(a: Semver, b: Semver): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/**
 * The release an upgrade starts from: the newest CHANGELOG entry with a `Commit:` line whose version is lower
 * than `current`. Entries without a commit (the one being worked on) are not releases yet.
 */
export function previousRelease(changelog: string, current: string): Release {
  const currentVersion = parseSemver(current);
  const released: Array<Release & { semver: Semver }> = [];
  for (const section of changelog.split(/^(?=## \[)/m)) {
    const heading = /^## \[(\d+\.\d+\.\d+)\]/.exec(section);
    const commit = /^Commit: `([0-9a-f]{40})`\s*$/m.exec(section);
    if (heading && commit) released.push({ version: heading[1]!, commit: commit[1]!, semver: parseSemver(heading[1]!) });
  }
  const older = released.filter((release) => compareSemver(release.semver, currentVersion) < 0);
  older.sort((a, b) => compareSemver(b.semver, a.semver));
  const newest = older[0];
  if (newest === undefined) throw new Error(`CHANGELOG.md names no released version (with a Commit: line) older than ${current}`);
  return { version: newest.version, commit: newest.commit };
}

/** The previous release of this checkout, from its CHANGELOG.md and package.json. */
export async function previousReleaseOfCheckout(): Promise<Release> {
  const changelog = await readFile(path.join(REPO_ROOT, 'CHANGELOG.md'), 'utf8');
  const { version } = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  return previousRelease(changelog, version);
}

function gitBytes(...args: string[]): Buffer {
  return execFileSync('git', ['-C', REPO_ROOT, ...args], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

function git(...args: string[]): string {
  return gitBytes(...args).toString('utf8');
}

/**
 * Fails, saying how to fix it, when git history does not hold the release: an upgrade test that cannot see
 * the previous release must not pass by testing nothing.
 */
export function requireReleaseCommit(release: Release): void {
  try {
    git('cat-file', '-e', `${release.commit}^{commit}`);
  } catch (error) {
    const shallow = (() => {
      try {
        return git('rev-parse', '--is-shallow-repository').trim() === 'true';
      } catch {
        return false;
      }
    })();
    throw new Error(
      `release ${release.version} (commit ${release.commit}) is not in this checkout's git history` +
        (shallow ? ' (a shallow clone: run git fetch --unshallow)' : '') +
        `; the upgrade test needs it. git said: ${String((error as { stderr?: string }).stderr ?? error).trim()}`,
    );
  }
}

/** A file as it was at the release's commit. */
export function fileAtRelease(release: Release, file: string): string {
  return git('show', `${release.commit}:${file}`);
}

/**
 * Writes the release's prisma/migrations/<name>/migration.sql files into `dir`, laid out as migrate()
 * reads them, and returns the migration names in order.
 */
export async function checkOutMigrations(release: Release, dir: string): Promise<string[]> {
  const files = git('ls-tree', '-r', '--name-only', release.commit, '--', 'prisma/migrations')
    .split('\n')
    .filter((file) => /^prisma\/migrations\/[^/]+\/migration\.sql$/.test(file));
  if (files.length === 0) throw new Error(`release ${release.version} (commit ${release.commit}) has no prisma/migrations/*/migration.sql`);
  const names: string[] = [];
  for (const file of files) {
    const name = file.split('/')[2]!;
    await mkdir(path.join(dir, name), { recursive: true });
    // Bytes as committed: migrate() compares checksums of exactly these.
    await writeFile(path.join(dir, name, 'migration.sql'), gitBytes('show', `${release.commit}:${file}`));
    names.push(name);
  }
  return names.sort();
}
