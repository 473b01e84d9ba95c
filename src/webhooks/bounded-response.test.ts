import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RESPONSE_BYTES_MAX_DEFAULT, readBounded } from './bounded-response';

const TEN_MB = 10 * 1024 * 1024;

/**
 * A real server whose one route answers with `bytes` bytes of 'x', written as fast as the socket takes them.
 * `last` tells how the latest answer ended: how much of it was written, and whether it was cut off.
 */
async function startServer(bytes: number) {
  let last: Promise<{ written: number; finished: boolean }> = Promise.resolve({ written: 0, finished: false });
  const server = http.createServer((_request, response) => {
    let written = 0;
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(bytes) });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const pump = () => {
      while (written < bytes) {
        const part = chunk.subarray(0, Math.min(chunk.length, bytes - written));
        written += part.length;
        if (!response.write(part)) return void response.once('drain', pump);
      }
      response.end();
    };
    last = new Promise((resolve) =>
      response.once('close', () => resolve({ written, finished: response.writableFinished })),
    );
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { server, url, last: () => last };
}

const get = (url: string) =>
  new Promise<http.IncomingMessage>((resolve, reject) => http.get(url, resolve).on('error', reject));

describe('readBounded', () => {
  it('reads 64 KiB of a 10 MB answer, then drops the connection without reading the rest', async () => {
    const { server, url, last } = await startServer(TEN_MB);
    try {
      const response = await get(url);
      const body = await readBounded(response);
      expect(body).toBe('x'.repeat(RESPONSE_BYTES_MAX_DEFAULT));
      expect(response.destroyed).toBe(true);
      expect(response.socket?.destroyed ?? true).toBe(true);
      // What the client took off the wire: the limit plus at most a few socket reads of slack, not 10 MB.
      expect(response.socket?.bytesRead ?? 0).toBeLessThan(1024 * 1024);
      // The server sees its answer cut off; what it wrote is what the kernel's socket buffers took.
      const answer = await last();
      expect(answer.finished).toBe(false);
      expect(answer.written).toBeLessThan(TEN_MB);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('reads a body within the limit to its end', async () => {
    const { server, url } = await startServer(1000);
    try {
      expect(await readBounded(await get(url), 4096)).toBe('x'.repeat(1000));
      expect(await readBounded(await get(url), 1000)).toBe('x'.repeat(1000));
      expect(await readBounded(await get(url), 10)).toBe('x'.repeat(10));
      expect(await readBounded(await get(url), 0)).toBe('');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('rejects when the partner drops the connection mid-body', async () => {
    const server = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-length': '1000' });
      response.write('partial', () => response.socket?.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const response = await get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await expect(readBounded(response)).rejects.toThrow();
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('refuses a negative or fractional limit', async () => {
    const { server, url } = await startServer(10);
    try {
      const response = await get(url);
      expect(() => readBounded(response, -1)).toThrow(RangeError);
      expect(() => readBounded(response, 1.5)).toThrow(RangeError);
      response.destroy();
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
