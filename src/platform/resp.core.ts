/**
 * The Redis wire protocol (RESP2), as much of it as a client sending commands needs: commands out as arrays of
 * bulk strings, replies in as simple strings, errors, integers, bulk strings and arrays. Pure: bytes in,
 * values out; the socket is `redis-client.ts`'s.
 */
export type RespValue = string | number | null | RespError | RespValue[];

/** An error reply (`-ERR ...`): a value, not a thrown error, so one bad reply in a pipeline spoils no other. */
export class RespError {
  constructor(readonly message: string) {}
}

/** Replies nest no deeper than this, and no bulk string is longer: a bound on what a server can make us hold. */
export const RESP_DEPTH_MAX = 8;
export const RESP_BULK_BYTES_MAX = 16 * 1024 * 1024;

export class RespProtocolError extends Error {}

export function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(arg, 'utf8');
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/**
 * Reads every complete reply at the start of `buffer`. Returns them and how many bytes they took; an incomplete
 * reply at the end is left for the next chunk.
 */
export function decodeReplies(buffer: Buffer): { values: RespValue[]; consumed: number } {
  const values: RespValue[] = [];
  let offset = 0;
  for (;;) {
    const parsed = parseValue(buffer, offset, 0);
    if (parsed === null) break;
    values.push(parsed.value);
    offset = parsed.next;
  }
  return { values, consumed: offset };
}

function parseValue(buffer: Buffer, offset: number, depth: number): { value: RespValue; next: number } | null {
  if (offset >= buffer.length) return null;
  if (depth > RESP_DEPTH_MAX) throw new RespProtocolError('reply nested too deeply');
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd === -1) return null;
  const type = String.fromCharCode(buffer[offset]!);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, next };
    case '-':
      return { value: new RespError(line), next };
    case ':':
      return { value: integer(line), next };
    case '$': {
      const length = integer(line);
      if (length === -1) return { value: null, next };
      if (length < 0 || length > RESP_BULK_BYTES_MAX) throw new RespProtocolError(`bad bulk length ${line}`);
      if (buffer.length < next + length + 2) return null;
      return { value: buffer.toString('utf8', next, next + length), next: next + length + 2 };
    }
    case '*': {
      const count = integer(line);
      if (count === -1) return { value: null, next };
      if (count < 0 || count > 1_000_000) throw new RespProtocolError(`bad array length ${line}`);
      const items: RespValue[] = [];
      let position = next;
      for (let index = 0; index < count; index += 1) {
        const item = parseValue(buffer, position, depth + 1);
        if (item === null) return null;
        items.push(item.value);
        position = item.next;
      }
      return { value: items, next: position };
    }
    default:
      throw new RespProtocolError(`unknown reply type ${JSON.stringify(type)}`);
  }
}

function integer(text: string): number {
  if (!/^-?[0-9]{1,16}$/.test(text)) throw new RespProtocolError(`bad integer ${JSON.stringify(text)}`);
  return Number(text);
}

/** `redis://[user:password@]host[:port][/db]`; TLS (`rediss://`) is not supported here. */
export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
}

export function parseRedisUrl(url: string): RedisTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RespProtocolError('REDIS_URL must be a redis:// URL');
  }
  if (parsed.protocol === 'rediss:') throw new RespProtocolError('REDIS_URL: rediss:// (TLS) is not supported');
  if (parsed.protocol !== 'redis:' || parsed.hostname === '') {
    throw new RespProtocolError('REDIS_URL must be redis://host[:port][/db]');
  }
  const dbText = parsed.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^[0-9]{1,2}$/.test(dbText))
    throw new RespProtocolError('REDIS_URL: the database must be 0-99');
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    db: dbText === '' ? 0 : Number(dbText),
    username: parsed.username === '' ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
  };
}
