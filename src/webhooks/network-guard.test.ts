import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BadInputError } from '../platform/errors';
import {
  WEBHOOK_URL_LENGTH_MAX,
  WebhookAddressRefusedError,
  assertTargetAllowed,
  assertWebhookTargetAllowed,
  classifyAddress,
  guardedLookup,
  guardedNetwork,
  parseWebhookUrl,
} from './network-guard';

describe('parseWebhookUrl', () => {
  it('accepts http and https URLs with a host', () => {
    expect(parseWebhookUrl('https://hooks.example.com/ledger?x=1').href).toBe('https://hooks.example.com/ledger?x=1');
    expect(parseWebhookUrl('http://hooks.example.com:8080/').port).toBe('8080');
  });

  it.each([
    ['file:///etc/passwd', 'url must use http or https, not file'],
    ['ftp://example.com/', 'url must use http or https, not ftp'],
    ['gopher://example.com/', 'url must use http or https, not gopher'],
    ['javascript:alert(1)', 'url must use http or https, not javascript'],
    ['https://user:pass@example.com/', 'url must not contain a user name or password'],
    ['https://token@example.com/', 'url must not contain a user name or password'],
    ['/relative/path', 'url must be an absolute http:// or https:// URL'],
    ['not a url', 'url must be an absolute http:// or https:// URL'],
    ['https://', 'url must be an absolute http:// or https:// URL'],
  ])('refuses %s with BAD_USER_INPUT', (raw, message) => {
    expect(() => parseWebhookUrl(raw)).toThrow(new BadInputError(message));
    expect(() => parseWebhookUrl(raw)).toThrow(BadInputError);
  });

  it(`refuses a URL longer than ${WEBHOOK_URL_LENGTH_MAX} characters and accepts one of exactly that length`, () => {
    const prefix = 'https://example.com/';
    expect(parseWebhookUrl(prefix + 'a'.repeat(WEBHOOK_URL_LENGTH_MAX - prefix.length)).href).toHaveLength(
      WEBHOOK_URL_LENGTH_MAX,
    );
    expect(() => parseWebhookUrl(prefix + 'a'.repeat(WEBHOOK_URL_LENGTH_MAX - prefix.length + 1))).toThrow(
      `url must be at most ${WEBHOOK_URL_LENGTH_MAX} characters`,
    );
  });
});

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:7f00:0001', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.127.255.254', 'private'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:192.168.0.1', 'private'],
    ['fc00::1', 'private'],
    ['fd00::1', 'private'],
    ['fdff:ffff::1', 'private'],
    ['fec0::1', 'private'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['169.254.0.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['::127.0.0.1', 'reserved'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::a00:1', 'private'],
    ['2002:7f00:1::', 'loopback'],
    ['not-an-address', 'reserved'],
    ['', 'reserved'],
  ])('classifies %s as %s', (ip, expected) => {
    expect(classifyAddress(ip)).toBe(expected);
  });

  it.each([
    '1.1.1.1',
    '8.8.8.8',
    '93.184.215.14',
    '172.15.255.255',
    '172.32.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '169.253.255.255',
    '192.169.0.1',
    '11.0.0.1',
    '126.255.255.255',
    '128.0.0.1',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::',
  ])('lets the public address %s through', (ip) => {
    expect(classifyAddress(ip)).toBeNull();
  });
});

// The WHATWG URL parser turns every spelling of an IPv4 address (octal, hex, short, full-width digits,
// ideographic dots, a trailing dot) into the dotted quad before the guard sees it.
describe('assertTargetAllowed, checked before every connection', () => {
  it.each([
    ['http://127.0.0.1:8080/', 'loopback'],
    ['http://127.1/', 'loopback'],
    ['http://2130706433/', 'loopback'],
    ['http://0x7f000001/', 'loopback'],
    ['http://017700000001/', 'loopback'],
    ['http://0x7f.1/', 'loopback'],
    ['http://127.0.0.1./', 'loopback'],
    ['http://127。0。0。1/', 'loopback'],
    ['http://①②⑦.0.0.1/', 'loopback'],
    ['http://0/', 'unspecified'],
    ['http://[0:0:0:0:0:ffff:127.0.0.1]/', 'loopback'],
    ['http://[::1]/', 'loopback'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://10.0.0.5/', 'private'],
    ['http://[fd00::1]/', 'private'],
    ['http://169.254.169.254/latest/meta-data/', 'metadata'],
    ['http://[fd00:ec2::254]/', 'metadata'],
  ])('refuses the literal %s as %s', (raw, addressClass) => {
    const attempt = () => assertTargetAllowed(new URL(raw), false);
    expect(attempt).toThrow(WebhookAddressRefusedError);
    try {
      attempt();
    } catch (error) {
      expect((error as WebhookAddressRefusedError).code).toBe('WEBHOOK_ADDRESS_REFUSED');
      expect((error as WebhookAddressRefusedError).addressClass).toBe(addressClass);
    }
  });

  it('leaves names to the lookup, and allows anything when private networks are allowed', () => {
    expect(() => assertTargetAllowed(new URL('http://localhost/'), false)).not.toThrow();
    expect(() => assertTargetAllowed(new URL('http://8.8.8.8/'), false)).not.toThrow();
    expect(() => assertTargetAllowed(new URL('http://127.0.0.1/'), true)).not.toThrow();
  });
});

describe('assertWebhookTargetAllowed, checked when an endpoint is created', () => {
  it.each([
    'http://127.0.0.1/',
    'http://10.1.2.3/',
    'http://192.168.0.10/',
    'http://172.16.5.4/',
    'http://169.254.169.254/',
    'http://[::1]/',
    'http://[fd00::1]/',
    'http://localhost:9999/',
  ])('refuses %s with BAD_USER_INPUT', async (raw) => {
    const attempt = assertWebhookTargetAllowed(new URL(raw), false);
    await expect(attempt).rejects.toThrow(BadInputError);
    await expect(attempt).rejects.toThrow(/address, which webhooks may not reach/);
  });

  it('refuses a host that does not resolve', async () => {
    await expect(assertWebhookTargetAllowed(new URL('http://no-such-host.invalid/'), false)).rejects.toThrow(
      'url host no-such-host.invalid does not resolve',
    );
  });

  it('allows loopback and names it cannot resolve when private networks are allowed', async () => {
    await expect(assertWebhookTargetAllowed(new URL('http://127.0.0.1:1/'), true)).resolves.toBeUndefined();
    await expect(assertWebhookTargetAllowed(new URL('http://localhost:1/'), true)).resolves.toBeUndefined();
  });

  it('still checks the shape when private networks are allowed', async () => {
    await expect(assertWebhookTargetAllowed(new URL('ftp://127.0.0.1/'), true)).rejects.toThrow(BadInputError);
  });
});

describe('guardedLookup, checked at connect time', () => {
  let server: http.Server;
  let port: number;
  let hits = 0;

  beforeAll(async () => {
    server = http.createServer((_request, response) => {
      hits += 1;
      response.end('reached');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const get = (lookup: ReturnType<typeof guardedLookup>) =>
    new Promise<string>((resolve, reject) => {
      const request = http.get({ host: 'localhost', port, path: '/', lookup, family: 4 }, (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve(body));
      });
      request.on('error', reject);
    });

  it('refuses a name that resolves to loopback before any byte is sent', async () => {
    const before = hits;
    await expect(get(guardedLookup(false))).rejects.toMatchObject({
      code: 'WEBHOOK_ADDRESS_REFUSED',
      addressClass: 'loopback',
      hostname: 'localhost',
    });
    expect(hits).toBe(before);
  });

  it('connects when private networks are allowed', async () => {
    await expect(get(guardedLookup(true))).resolves.toBe('reached');
  });

  it('answers in the form it was asked for', async () => {
    const lookup = guardedLookup(true);
    const one = await new Promise<[string, number]>((resolve, reject) =>
      lookup('localhost', { family: 4 }, (error, address, family) =>
        error ? reject(error) : resolve([address as string, family as number]),
      ),
    );
    expect(one).toEqual(['127.0.0.1', 4]);
    const all = await new Promise<unknown>((resolve, reject) =>
      lookup('localhost', { family: 4, all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))),
    );
    expect(all).toEqual([{ address: '127.0.0.1', family: 4 }]);
  });

  it('passes resolver failures through', async () => {
    const lookup = guardedLookup(false);
    const error = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
      lookup('no-such-host.invalid', { all: true }, (failure) => resolve(failure)),
    );
    // ENOTFOUND where a resolver answers, EAI_AGAIN where none can be reached.
    expect(['ENOTFOUND', 'EAI_AGAIN']).toContain(error?.code);
  });
});

describe('guardedNetwork, what the sender connects through', () => {
  it('refuses IP literals that never reach the lookup, and bad URLs', () => {
    const network = guardedNetwork(false);
    expect(() => network.parseUrl('http://127.0.0.1:4000/')).toThrow(WebhookAddressRefusedError);
    expect(() => network.parseUrl('http://[::ffff:169.254.169.254]/')).toThrow(WebhookAddressRefusedError);
    expect(() => network.parseUrl('file:///etc/passwd')).toThrow(BadInputError);
    expect(network.parseUrl('https://hooks.example.com/x').hostname).toBe('hooks.example.com');
    expect(guardedNetwork(true).parseUrl('http://127.0.0.1:4000/').port).toBe('4000');
  });
});
