import net from 'node:net';

/**
 * A deliberately small HTTP/1.1 client: one keep-alive socket carrying one request at a time. The load
 * driver shares two cores with the server and Postgres, so it must cost as little CPU per request as
 * possible; node's http client costs several times more than this for the same exchange.
 */
export interface HttpResponse {
  status: number;
  body: Buffer;
}

export interface Endpoint {
  host: string;
  port: number;
  path: string;
  /** Value of the Authorization header, or null for none. */
  authorization: string | null;
}

const HEADER_END = Buffer.from('\r\n\r\n');
// Responses larger than this are a bug in the scenario, not a load to measure.
const RESPONSE_BYTES_MAX = 64 * 1024 * 1024;

export class KeepAliveConnection {
  private readonly socket: net.Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (response: HttpResponse) => void; reject: (error: Error) => void } | null = null;
  private readonly prefix: string;
  private closed: Error | null = null;

  private constructor(endpoint: Endpoint, socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    this.prefix =
      `POST ${endpoint.path} HTTP/1.1\r\nHost: ${endpoint.host}:${endpoint.port}\r\nConnection: keep-alive\r\n` +
      `Content-Type: application/json\r\n` +
      (endpoint.authorization === null ? '' : `Authorization: ${endpoint.authorization}\r\n`) +
      'Content-Length: ';
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = (error: Error) => {
      this.closed = error;
      const waiting = this.waiting;
      this.waiting = null;
      waiting?.reject(error);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed by the server')));
  }

  static open(endpoint: Endpoint): Promise<KeepAliveConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: endpoint.host, port: endpoint.port });
      socket.once('connect', () => {
        socket.removeListener('error', reject);
        resolve(new KeepAliveConnection(endpoint, socket));
      });
      socket.once('error', reject);
    });
  }

  /** POSTs a JSON body and resolves with the whole response. */
  post(body: string): Promise<HttpResponse> {
    if (this.closed) return Promise.reject(this.closed);
    if (this.waiting) return Promise.reject(new Error('one request at a time per connection'));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(`${this.prefix}${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    if (this.buffer.length > RESPONSE_BYTES_MAX) {
      this.socket.destroy(new Error('response too large'));
      return;
    }
    const parsed = parseResponse(this.buffer);
    if (parsed === null) return;
    this.buffer = this.buffer.subarray(parsed.consumed);
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.resolve(parsed.response);
  }
}

/** A complete response at the start of `buffer`, or null while more bytes are needed. */
export function parseResponse(buffer: Buffer): { response: HttpResponse; consumed: number } | null {
  const headerEnd = buffer.indexOf(HEADER_END);
  if (headerEnd < 0) return null;
  const head = buffer.toString('latin1', 0, headerEnd);
  const status = Number(head.slice(9, 12));
  const bodyStart = headerEnd + 4;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length) {
    const end = bodyStart + Number(length[1]);
    if (buffer.length < end) return null;
    return { response: { status, body: buffer.subarray(bodyStart, end) }, consumed: end };
  }
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    const parts: Buffer[] = [];
    let offset = bodyStart;
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', offset);
      if (lineEnd < 0) return null;
      const size = parseInt(buffer.toString('latin1', offset, lineEnd), 16);
      const dataStart = lineEnd + 2;
      if (size === 0) {
        const trailerEnd = buffer.indexOf('\r\n', dataStart);
        if (trailerEnd < 0) return null;
        return { response: { status, body: Buffer.concat(parts) }, consumed: trailerEnd + 2 };
      }
      if (buffer.length < dataStart + size + 2) return null;
      parts.push(buffer.subarray(dataStart, dataStart + size));
      offset = dataStart + size + 2;
    }
  }
  // No length and not chunked: a bodiless response (e.g. 204).
  return { response: { status, body: Buffer.alloc(0) }, consumed: bodyStart };
}

/** One request on a fresh connection, for setup steps. */
export async function postOnce(endpoint: Endpoint, body: unknown): Promise<{ status: number; json: any }> {
  const connection = await KeepAliveConnection.open(endpoint);
  try {
    const response = await connection.post(JSON.stringify(body));
    return { status: response.status, json: JSON.parse(response.body.toString('utf8')) };
  } finally {
    connection.close();
  }
}
