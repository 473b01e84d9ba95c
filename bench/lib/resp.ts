import net from 'node:net';

/**
 * Just enough of Redis's protocol (RESP2) to PUBLISH and SUBSCRIBE, for T1: the server has no Redis
 * client, and the bench measures the transport without adding one.
 */
export type RespValue = string | number | null | Error | RespValue[];

const CRLF = '\r\n';
/** A reply larger than this is a protocol error here (T1's payloads stay under 8 kB). */
const BULK_BYTES_MAX = 1 << 20;

export function encodeCommand(args: string[]): string {
  return `*${args.length}${CRLF}${args.map((arg) => `$${Buffer.byteLength(arg)}${CRLF}${arg}${CRLF}`).join('')}`;
}

/** One value from `buffer` at `offset`; null when the buffer does not hold a whole one yet. */
export function parseValue(buffer: Buffer, offset: number): { value: RespValue; next: number } | null {
  const lineEnd = buffer.indexOf(CRLF, offset);
  if (lineEnd < 0) return null;
  const line = buffer.toString('latin1', offset + 1, lineEnd);
  const afterLine = lineEnd + 2;
  switch (String.fromCharCode(buffer[offset]!)) {
    case '+':
      return { value: line, next: afterLine };
    case '-':
      return { value: new Error(line), next: afterLine };
    case ':':
      return { value: Number(line), next: afterLine };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next: afterLine };
      if (length > BULK_BYTES_MAX) throw new Error(`RESP bulk string of ${length} bytes`);
      if (buffer.length < afterLine + length + 2) return null;
      return { value: buffer.toString('utf8', afterLine, afterLine + length), next: afterLine + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next: afterLine };
      const items: RespValue[] = [];
      let next = afterLine;
      for (let index = 0; index < count; index += 1) {
        const item = parseValue(buffer, next);
        if (item === null) return null;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`unexpected RESP type byte ${buffer[offset]}`);
  }
}

/**
 * One connection. Replies resolve the commands in the order they were sent; on a subscribed
 * connection, a `message` array that no command waits for goes to `onMessage`.
 */
export class RespConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly waiting: Array<(value: RespValue) => void> = [];
  onMessage: ((channel: string, payload: string) => void) | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
  }

  static open(url: URL, timeoutMs = 2_000): Promise<RespConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(url.port || 6379), url.hostname);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no answer from Redis at ${url.host} in ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new RespConnection(socket));
      });
    });
  }

  /** Writes every command at once (pipelined) and resolves with their replies, in order. */
  pipeline(commands: string[][]): Promise<RespValue[]> {
    const replies = commands.map(() => new Promise<RespValue>((resolve) => this.waiting.push(resolve)));
    this.socket.write(commands.map(encodeCommand).join(''));
    return Promise.all(replies);
  }

  close(): void {
    this.socket.destroy();
  }

  private read(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let offset = 0;
    for (;;) {
      const parsed = parseValue(this.buffer, offset);
      if (parsed === null) break;
      offset = parsed.next;
      const value = parsed.value;
      if (Array.isArray(value) && value[0] === 'message' && this.onMessage) this.onMessage(String(value[1]), String(value[2]));
      else this.waiting.shift()?.(value);
    }
    this.buffer = this.buffer.subarray(offset);
  }
}
