import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The stderr logger buffers lines (src/platform/log-buffer.ts); these run it in a real child process and
 * show that no line written before the process ends is lost, however it ends.
 */
const LOGGER = path.resolve(__dirname, '../dist/platform/logger.js');

interface Ended {
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

function runChild(script: string): Promise<Ended> {
  if (!existsSync(LOGGER)) throw new Error('dist/platform/logger.js is missing: run npm run build');
  const child = spawn(
    process.execPath,
    ['-e', `const log = require(${JSON.stringify(LOGGER)}).createLogger('info');\n${script}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ stderr, code, signal })));
}

const messages = (stderr: string) =>
  stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line).message);

it('keeps a line logged right before process.exit', async () => {
  const ended = await runChild(`log.info('last words', { n: 1 }); process.exit(3);`);
  expect(ended.code).toBe(3);
  expect(messages(ended.stderr)).toEqual(['last words']);
});

it('keeps every one of many lines, in order, when the process exits at once', async () => {
  const ended = await runChild(`for (let i = 0; i < 20000; i++) log.info('line ' + i); process.exit(0);`);
  expect(messages(ended.stderr)).toEqual(Array.from({ length: 20_000 }, (_, i) => `line ${i}`));
});

it('writes the lines before an uncaught exception ahead of its stack trace', async () => {
  const ended = await runChild(`log.info('before the crash'); setImmediate(() => { throw new Error('boom'); });`);
  expect(ended.code).toBe(1);
  expect(messages(ended.stderr)).toEqual(['before the crash']);
  // Node prints the script's source line too: look for the JSON line itself.
  const line = ended.stderr.indexOf('"message":"before the crash"');
  expect(line).toBeLessThan(ended.stderr.indexOf('Error: boom'));
});

it('keeps the lines before an unhandled rejection ends the process', async () => {
  const ended = await runChild(`log.info('before the rejection'); Promise.reject(new Error('refused'));`);
  expect(ended.code).toBe(1);
  expect(messages(ended.stderr)).toEqual(['before the rejection']);
});

it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)(
  'keeps the lines before an unhandled %s, which still ends the process as the signal does',
  async (signal) => {
    const ended = await runChild(
      `log.info('before the signal'); setInterval(() => {}, 1000); process.kill(process.pid, '${signal}');`,
    );
    expect(ended.signal).toBe(signal);
    expect(messages(ended.stderr)).toEqual(['before the signal']);
  },
);

it('leaves a signal to a handler of the program, after writing the lines', async () => {
  const ended = await runChild(
    `process.on('SIGTERM', () => { log.info('handled'); process.exit(0); });
     log.info('before the signal'); setInterval(() => {}, 1000); process.kill(process.pid, 'SIGTERM');`,
  );
  expect(ended.code).toBe(0);
  expect(messages(ended.stderr)).toEqual(['before the signal', 'handled']);
});

it("writes a quiet process's lines without waiting for it to end, and errors at once", async () => {
  // The child ends only once its own lines are readable on its stderr, which the parent echoes back on stdin.
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const log = require(${JSON.stringify(LOGGER)}).createLogger('info');
       log.info('quiet line'); log.error('an error');
       process.stdin.once('data', () => process.exit(0));`,
    ],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (stderr.includes('an error')) child.stdin.write('seen\n');
  });
  const code = await new Promise((resolve) => child.on('close', resolve));
  expect(code).toBe(0);
  expect(messages(stderr)).toEqual(['quiet line', 'an error']);
});
