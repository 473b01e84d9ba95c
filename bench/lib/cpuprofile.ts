import { readFileSync } from 'node:fs';

/**
 * Reads a V8 `.cpuprofile` (written by `node --cpu-prof`) and attributes self time to packages and
 * functions, over a chosen window only (the measured load, not the start-up).
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileShare {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) time in the window. */
  percent: number;
}

export interface ProfileSummary {
  windowMs: number;
  busyMs: number;
  /** Busy time as a share of one core over the window. */
  busyOfOneCorePercent: number;
  /**
   * Share of busy samples inside a socket write (writev, writeBuffer, …). On an oversubscribed machine
   * this is mostly time the thread spent descheduled right after its write woke the peer (Postgres, the
   * driver): V8 samples wall-clock time. The shares below leave it out.
   */
  socketWritesPercent: number;
  /** Self time by package, as a share of busy time without socket writes. */
  byPackage: ProfileShare[];
  topFunctions: ProfileShare[];
}

const SOCKET_WRITES = new Set([
  'writev',
  'writeBuffer',
  'writeUtf8String',
  'writeLatin1String',
  'writeAsciiString',
  'writeUcs2String',
]);

/** Which package (or part of the app) a frame's code belongs to. */
export function packageOf(url: string, functionName: string): string {
  if (functionName === '(garbage collector)') return '(garbage collector)';
  if (functionName === '(program)') return '(program: V8/native, unattributed)';
  if (functionName === '(idle)') return '(idle)';
  if (url === '') return '(native)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return 'node core';
  const generated = url.indexOf('/dist/generated/');
  if (generated >= 0) return 'app: dist/generated (Prisma client)';
  const dist = url.indexOf('/dist/');
  if (dist >= 0) {
    const file = url.slice(dist + '/dist/'.length);
    return `app: ${file.includes('/') ? file.slice(0, file.indexOf('/')) : file}`;
  }
  return url;
}

export function summarizeProfile(file: string, window?: { fromUs: number; toUs: number }, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let time = profile.startTime;
  let windowUs = 0;
  const from = window?.fromUs ?? profile.startTime;
  const to = window?.toUs ?? profile.endTime;
  for (let index = 0; index < profile.samples.length; index += 1) {
    const delta = profile.timeDeltas[index] ?? 0;
    time += delta;
    if (time < from || time > to) continue;
    windowUs += delta;
    const node = nodes.get(profile.samples[index]!);
    if (!node) continue;
    const { url, functionName, lineNumber } = node.callFrame;
    const pkg = url === '' && SOCKET_WRITES.has(functionName) ? '(socket writes)' : packageOf(url, functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + delta);
    if (pkg !== '(idle)' && pkg !== '(socket writes)') {
      const shortUrl = url.includes('/node_modules/')
        ? url.slice(url.lastIndexOf('/node_modules/') + 14)
        : url.replace(/^.*\/dist\//, 'dist/');
      const key = `${functionName || '(anonymous)'} ${shortUrl}${url ? `:${lineNumber + 1}` : ''}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + delta);
    }
  }
  const idleUs = byPackage.get('(idle)') ?? 0;
  byPackage.delete('(idle)');
  const writesUs = byPackage.get('(socket writes)') ?? 0;
  byPackage.delete('(socket writes)');
  const workUs = [...byPackage.values()].reduce((sum, value) => sum + value, 0);
  const busyUs = workUs + writesUs;
  const shares = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({
        name,
        ms: Math.round(us / 100) / 10,
        percent: Math.round((us / Math.max(workUs, 1)) * 1000) / 10,
      }));
  return {
    windowMs: Math.round(windowUs / 1000),
    busyMs: Math.round(busyUs / 1000),
    busyOfOneCorePercent: Math.round((busyUs / Math.max(busyUs + idleUs, 1)) * 1000) / 10,
    socketWritesPercent: Math.round((writesUs / Math.max(busyUs, 1)) * 1000) / 10,
    byPackage: shares(byPackage),
    topFunctions: shares(byFunction),
  };
}
