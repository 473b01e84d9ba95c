import type http from 'node:http';

/** What a partner's answer may cost us: enough for an error message, never a memory problem. */
export const RESPONSE_BYTES_MAX_DEFAULT = 64 * 1024;

/**
 * Reads at most `maxBytes` of a response body as UTF-8 and then destroys the response (and its socket), so a
 * partner answering with gigabytes costs one bounded buffer. A body that fits is read to its end. A
 * multibyte character cut at the limit becomes U+FFFD. Rejects when the connection fails before the end or
 * the limit; the caller already has the status code and decides what that means.
 *
 * It does not bound time: a body trickled one byte a second is the caller's request timeout to end.
 */
export function readBounded(res: http.IncomingMessage, maxBytes: number = RESPONSE_BYTES_MAX_DEFAULT): Promise<string> {
  if (!Number.isInteger(maxBytes) || maxBytes < 0) throw new RangeError('maxBytes must be a non-negative integer');
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      res.off('data', onData);
      outcome();
    };
    const body = () => Buffer.concat(chunks, length).toString('utf8');
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const room = maxBytes - length;
      if (bytes.length < room || (bytes.length === room && res.complete)) {
        chunks.push(bytes);
        length += bytes.length;
        return;
      }
      chunks.push(bytes.subarray(0, room));
      length += room;
      // The limit is reached: stop the flow before anything else is buffered and drop the connection, since a
      // kept-alive socket would have to read the rest of the body first.
      res.pause();
      finish(() => resolve(body()));
      res.destroy();
    };
    res.on('data', onData);
    res.once('end', () => finish(() => resolve(body())));
    res.once('error', (error) => finish(() => reject(error)));
    res.once('close', () =>
      finish(() => (res.complete ? resolve(body()) : reject(new Error('response closed early')))),
    );
  });
}
