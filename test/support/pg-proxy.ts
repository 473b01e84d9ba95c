import net from 'node:net';

/**
 * A TCP relay in front of the machine's real PostgreSQL, so one server can stand for several hosts of a
 * `DATABASE_URL` host list, each of which a test can make look like a standby (its sessions start with
 * `default_transaction_read_only=on`, which Postgres itself applies and reports), take down (the port
 * refuses connections) or cut (every open connection dropped, as when a primary dies). Nothing stands in for
 * Postgres: every byte past the start-up message is the server's own.
 */
export type ProxyMode = 'writable' | 'read-only' | 'down';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const PROTOCOL_3 = 196608;

export class PgProxy {
  private server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private currentMode: ProxyMode = 'writable';
  /** Connections accepted since start, for tests that show where connections went. */
  accepted = 0;
  /**
   * When set, a connection that sends a message containing this text gets no reply from then on: the
   * statement runs (and commits) but its answer never arrives, as when a primary dies between its commit
   * and its reply.
   */
  loseRepliesAfter: string | null = null;

  private constructor(
    private readonly target: { host: string; port: number },
    readonly port: number,
    server: net.Server,
  ) {
    this.server = server;
  }

  static async start(target: { host: string; port: number }): Promise<PgProxy> {
    const server = net.createServer();
    await listen(server, 0);
    const proxy = new PgProxy(target, (server.address() as net.AddressInfo).port, server);
    server.on('connection', (socket) => proxy.accept(socket));
    return proxy;
  }

  get mode(): ProxyMode {
    return this.currentMode;
  }

  /** Connections open through the relay right now. */
  get open(): number {
    return this.sockets.size / 2;
  }

  async setMode(mode: ProxyMode): Promise<void> {
    if (mode === this.currentMode) return;
    const wasDown = this.currentMode === 'down';
    this.currentMode = mode;
    if (mode === 'down') {
      this.cut();
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
    } else if (wasDown) {
      this.server = net.createServer();
      this.server.on('connection', (socket) => this.accept(socket));
      await listen(this.server, this.port);
    }
  }

  /** Drops every open connection at once, as a dying server does. */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    if (this.currentMode !== 'down') await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.accepted += 1;
    const readOnly = this.currentMode === 'read-only';
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 8) {
        const length = buffered.readInt32BE(0);
        if (buffered.length < length) return;
        const code = buffered.readInt32BE(4);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          // No encryption on the relay: the client goes on in the clear, as with sslmode=prefer.
          client.write('N');
          buffered = buffered.subarray(length);
          continue;
        }
        client.off('data', onData);
        const startup = code === PROTOCOL_3 && readOnly ? readOnlyStartup(buffered.subarray(0, length)) : null;
        this.relay(client, Buffer.concat([startup ?? buffered.subarray(0, length), buffered.subarray(length)]));
        return;
      }
    };
    client.on('data', onData);
    client.on('error', () => undefined);
  }

  private relay(client: net.Socket, first: Buffer): void {
    const upstream = net.connect(this.target.port, this.target.host);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    upstream.on('error', close);
    client.on('error', close);
    upstream.on('close', close);
    client.on('close', close);
    upstream.write(first);
    let losing = false;
    client.on('data', (chunk: Buffer) => {
      if (this.loseRepliesAfter !== null && chunk.includes(this.loseRepliesAfter)) losing = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!losing) client.write(chunk);
    });
  }
}

/** The start-up message with `-c default_transaction_read_only=on` added to its `options`. */
function readOnlyStartup(message: Buffer): Buffer {
  const fields = message
    .subarray(8, message.length - 1)
    .toString('utf8')
    .split('\0');
  const parameters = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) parameters.set(fields[i], fields[i + 1]);
  const options = parameters.get('options');
  parameters.set('options', `${options ? `${options} ` : ''}-c default_transaction_read_only=on`);
  const body = Buffer.from(`${[...parameters].map(([key, value]) => `${key}\0${value}\0`).join('')}\0`, 'utf8');
  const header = Buffer.alloc(8);
  header.writeInt32BE(8 + body.length, 0);
  header.writeInt32BE(PROTOCOL_3, 4);
  return Buffer.concat([header, body]);
}

function listen(server: net.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
