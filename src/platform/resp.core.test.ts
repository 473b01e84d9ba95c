import { decodeReplies, encodeCommand, parseRedisUrl, RespError, RespProtocolError } from './resp.core';

describe('RESP', () => {
  it('encodes a command as an array of bulk strings, counting bytes rather than characters', () => {
    expect(encodeCommand(['SET', 'k', 'é']).toString()).toBe('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\né\r\n');
  });

  it('decodes every kind of reply, nested arrays and nulls included', () => {
    const wire = '+OK\r\n-ERR wrong\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n:1\r\n*1\r\n$0\r\n\r\n*-1\r\n';
    expect(decodeReplies(Buffer.from(wire))).toEqual({
      values: ['OK', new RespError('ERR wrong'), 42, 'hello', null, [1, ['']], null],
      consumed: Buffer.byteLength(wire),
    });
  });

  it('leaves an incomplete reply for the next chunk, wherever the chunk ends', () => {
    const wire = Buffer.from('*2\r\n$3\r\nabc\r\n:7\r\n+PONG\r\n');
    for (let cut = 0; cut < 17; cut += 1) {
      const first = decodeReplies(wire.subarray(0, cut));
      expect(first.values).toEqual([]);
      expect(first.consumed).toBe(0);
    }
    expect(decodeReplies(wire.subarray(0, 20))).toEqual({ values: [['abc', 7]], consumed: 17 });
    expect(decodeReplies(wire).values).toEqual([['abc', 7], 'PONG']);
  });

  it.each([
    ['?what\r\n', /unknown reply type/],
    [':12a\r\n', /bad integer/],
    ['$-5\r\n', /bad bulk length/],
    ['*-2\r\n', /bad array length/],
    ['*1\r\n'.repeat(10), /nested too deeply/],
  ])('refuses %j', (wire, message) => {
    expect(() => decodeReplies(Buffer.from(wire))).toThrow(RespProtocolError);
    expect(() => decodeReplies(Buffer.from(wire))).toThrow(message);
  });
});

describe('parseRedisUrl', () => {
  it('reads host, port, database and credentials', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6380/2')).toEqual({
      host: '127.0.0.1',
      port: 6380,
      db: 2,
      username: undefined,
      password: undefined,
    });
    expect(parseRedisUrl('redis://app:p%40ss@cache')).toEqual({
      host: 'cache',
      port: 6379,
      db: 0,
      username: 'app',
      password: 'p@ss',
    });
    expect(parseRedisUrl('redis://[::1]:6379').host).toBe('::1');
  });

  it.each([
    ['cache:6379', /must be redis:\/\/host/],
    ['not a url', /must be a redis:\/\/ URL/],
    ['rediss://cache', /TLS\) is not supported/],
    ['http://cache', /must be redis:\/\/host/],
    ['redis://cache/x', /database must be 0-99/],
  ])('refuses %s', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(message);
  });
});
