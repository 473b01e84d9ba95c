import { writeSync } from 'node:fs';

/**
 * Log lines are held this long at most before they are written (so a quiet server's lines still show
 * promptly), or written as soon as this many characters are waiting (so a busy one writes ~50 lines per
 * system call instead of one).
 */
export const LOG_FLUSH_INTERVAL_MS = 50;
export const LOG_BUFFER_CHARS = 16_384;

// A file descriptor opened non-blocking by the parent may refuse a write for a moment: wait 1 ms and retry.
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * Collects lines for one file descriptor and writes them together, synchronously: once a line is flushed
 * it is in the kernel, and a flush on the way out (see stderrLines) loses nothing.
 */
export class LineBuffer {
  private lines: string[] = [];
  private chars = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly fd: number,
    private readonly maxChars = LOG_BUFFER_CHARS,
    private readonly intervalMs = LOG_FLUSH_INTERVAL_MS,
  ) {}

  write(line: string): boolean {
    this.lines.push(line);
    this.chars += line.length;
    if (this.chars >= this.maxChars) this.flush();
    else if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
    }
    return true;
  }

  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.lines.length === 0) return;
    let pending = Buffer.from(this.lines.length === 1 ? this.lines[0]! : this.lines.join(''), 'utf8');
    this.lines = [];
    this.chars = 0;
    while (pending.length > 0) {
      try {
        pending = pending.subarray(writeSync(this.fd, pending));
      } catch (error) {
        // Anything but a full pipe (stderr closed, EPIPE): there is nowhere left to say so.
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
        Atomics.wait(PAUSE, 0, 0, 1);
      }
    }
  }
}

const EXIT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let stderrBuffer: LineBuffer | null = null;

/**
 * The process's one buffer for stderr, flushed synchronously on every way out that runs code: exit
 * (process.exit or an empty event loop), an uncaught exception or unhandled rejection (before Node prints
 * it), and SIGINT/SIGTERM/SIGHUP. A signal nobody else handles then takes its default course, as it would
 * without this buffer; with main.ts's handlers installed, they do the shutdown.
 */
export function stderrLines(): LineBuffer {
  if (stderrBuffer !== null) return stderrBuffer;
  const buffer = new LineBuffer(2);
  process.on('exit', () => buffer.flush());
  process.on('uncaughtExceptionMonitor', () => buffer.flush());
  for (const signal of EXIT_SIGNALS) {
    const onSignal = () => {
      buffer.flush();
      if (process.listenerCount(signal) > 1) return;
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
  stderrBuffer = buffer;
  return buffer;
}
