import net from 'node:net';
import { decodeReplies, encodeCommand, RespError, type RedisTarget, type RespValue } from './resp.core.js';

/** How long a command (or the connection it needs) may take before the connection is given up. */
export const REDIS_TIMEOUT_MS_DEFAULT = 250;

interface Pending {
  resolve: (value: RespValue) => void;
  reject: (error: Error) => void;
}

/**
 * A minimal Redis client over one TCP connection: commands are pipelined and answered in order, as RESP
 * requires. Any failure (the connection lost, a reply late past the timeout, bytes that are not RESP) fails
 * every command in flight and drops the connection; the next command connects again.
 */
export class RedisClient {
  private socket: net.Socket | null = null;
  private ready: Promise<net.Socket> | null = null;
  private pending: Pending[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private closed = false;

  constructor(
    private readonly target: RedisTarget,
    private readonly timeoutMs = REDIS_TIMEOUT_MS_DEFAULT,
  ) {}

  async command(args: readonly string[]): Promise<RespValue> {
    if (this.closed) throw new Error('the Redis client is closed');
    const socket = await this.connect();
    return this.send(socket, args);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.fail(new Error('the Redis client is closed'));
  }

  private send(socket: net.Socket, args: readonly string[]): Promise<RespValue> {
    return new Promise<RespValue>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error('Redis did not answer in time')), this.timeoutMs);
      this.pending.push({
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      socket.write(encodeCommand(args));
    });
  }

  private connect(): Promise<net.Socket> {
    if (this.ready !== null) return this.ready;
    this.ready = new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect(this.target.port, this.target.host);
      socket.setNoDelay(true);
      // Events of a socket already given up (a later one may be current) change nothing.
      this.socket = socket;
      const timer = setTimeout(() => {
        reject(new Error('could not connect to Redis in time'));
        if (this.socket === socket) this.fail(new Error('could not connect to Redis in time'));
      }, this.timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(socket);
      });
      socket.on('data', (chunk) => {
        if (this.socket === socket) this.receive(chunk);
      });
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
        if (this.socket === socket) this.fail(error);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        reject(new Error('the Redis connection closed'));
        if (this.socket === socket) this.fail(new Error('the Redis connection closed'));
      });
    }).then(async (socket) => {
      const { username, password, db } = this.target;
      if (password !== undefined) {
        expectOk(await this.send(socket, username === undefined ? ['AUTH', password] : ['AUTH', username, password]));
      }
      if (db !== 0) expectOk(await this.send(socket, ['SELECT', String(db)]));
      return socket;
    });
    this.ready.catch(() => {
      this.ready = null;
    });
    return this.ready;
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let decoded: ReturnType<typeof decodeReplies>;
    try {
      decoded = decodeReplies(this.buffer);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    this.buffer = this.buffer.subarray(decoded.consumed);
    for (const value of decoded.values) this.pending.shift()?.resolve(value);
  }

  private fail(error: Error): void {
    const socket = this.socket;
    this.socket = null;
    this.ready = null;
    this.buffer = Buffer.alloc(0);
    socket?.destroy();
    const pending = this.pending;
    this.pending = [];
    for (const item of pending) item.reject(error);
  }
}

function expectOk(reply: RespValue): void {
  if (reply instanceof RespError) throw new Error(`Redis refused: ${reply.message}`);
}
