import dns from 'node:dns';
import net from 'node:net';
import { BadInputError } from '../platform/errors.js';
import { readBounded } from './bounded-response.js';

/**
 * Where a webhook may be sent. A partner types a URL and the server connects to it, so without a guard any
 * API key holder could make the server call its own loopback, the private network it sits in, or the cloud
 * metadata service that hands out credentials (SSRF). The guard refuses those targets twice:
 *
 * - at creation (`assertWebhookTargetAllowed`), so a bad URL is a clear `BAD_USER_INPUT` and nothing is stored;
 * - at every connection (`assertTargetAllowed` before the request, `guardedLookup` as its `lookup`), because a
 *   name that resolved to a public address at creation can resolve to 127.0.0.1 a minute later (DNS
 *   rebinding). The check runs on the very addresses the socket connects to, so there is no window between
 *   checking and connecting.
 *
 * `WEBHOOK_ALLOW_PRIVATE_NETWORKS=true` (development and tests) turns the address checks off; the URL's shape
 * is checked always.
 */

/** Longest accepted webhook URL, in characters: what browsers and most proxies accept. */
export const WEBHOOK_URL_LENGTH_MAX = 2048;

export type AddressClass =
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

/** The error a refused connection fails with; `code` lets the delivery worker tell it from a network error. */
export class WebhookAddressRefusedError extends Error {
  readonly code = 'WEBHOOK_ADDRESS_REFUSED';
  constructor(
    readonly hostname: string,
    readonly addressClass: AddressClass,
  ) {
    // The message names the class, not the resolved address: it is shown to whoever manages the endpoint,
    // and the address of an internal name is not theirs to learn.
    super(`webhook target ${hostname} resolves to a ${addressClass} address, which webhooks may not reach`);
    this.name = 'WebhookAddressRefusedError';
  }
}

/** Checks the shape of a webhook URL and returns it parsed; throws `BAD_USER_INPUT` saying what is wrong. */
export function parseWebhookUrl(raw: string): URL {
  if (raw.length > WEBHOOK_URL_LENGTH_MAX) {
    throw new BadInputError(`url must be at most ${WEBHOOK_URL_LENGTH_MAX} characters`);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new BadInputError('url must be an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new BadInputError(`url must use http or https, not ${url.protocol.replace(/:$/, '')}`);
  }
  // Credentials in a URL end up in logs and in every listing of the endpoint; partners authenticate us by
  // the signature instead.
  if (url.username !== '' || url.password !== '') {
    throw new BadInputError('url must not contain a user name or password');
  }
  if (url.hostname === '') throw new BadInputError('url must name a host');
  return url;
}

/** The host of a URL as an IP address when it is an IP literal (URL keeps IPv6 in brackets), else null. */
export function literalAddress(url: URL): string | null {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return net.isIP(host) === 0 ? null : host;
}

/**
 * Why an address may not be a webhook target, or null when it is an ordinary public unicast address.
 * IPv4 inside IPv6 (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by the IPv4
 * address it carries, since that is where the packets end up. Anything that does not parse as an address
 * is `reserved`: the guard fails closed.
 */
export function classifyAddress(ip: string): AddressClass | null {
  const address = ip.replace(/%.*$/, '');
  if (net.isIPv4(address)) return classifyIPv4(ipv4ToNumber(address));
  if (net.isIPv6(address)) return classifyIPv6(ipv6ToGroups(address));
  return 'reserved';
}

type V4Range = readonly [base: string, prefix: number, addressClass: AddressClass];

// Order matters: the first match wins, so single addresses come before the ranges that contain them.
const IPV4_RANGES: readonly V4Range[] = [
  ['169.254.169.254', 32, 'metadata'], // AWS, GCP, Azure, OpenStack instance metadata
  ['169.254.170.2', 32, 'metadata'], // AWS ECS task metadata and credentials
  ['100.100.100.200', 32, 'metadata'], // Alibaba Cloud metadata
  ['0.0.0.0', 8, 'unspecified'], // "this network": Linux connects 0.0.0.0 to the local host
  ['127.0.0.0', 8, 'loopback'],
  ['10.0.0.0', 8, 'private'],
  ['172.16.0.0', 12, 'private'],
  ['192.168.0.0', 16, 'private'],
  ['100.64.0.0', 10, 'private'], // carrier-grade NAT (RFC 6598), internal to a provider
  ['169.254.0.0', 16, 'link-local'],
  ['192.0.0.0', 24, 'reserved'], // IETF protocol assignments
  ['192.0.2.0', 24, 'reserved'], // documentation
  ['198.51.100.0', 24, 'reserved'], // documentation
  ['203.0.113.0', 24, 'reserved'], // documentation
  ['192.88.99.0', 24, 'reserved'], // deprecated 6to4 relays
  ['198.18.0.0', 15, 'reserved'], // benchmarking
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'], // future use, and 255.255.255.255 broadcast
];

const IPV4_TABLE = IPV4_RANGES.map(([base, prefix, addressClass]) => ({
  base: ipv4ToNumber(base),
  mask: prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0,
  addressClass,
}));

function classifyIPv4(value: number): AddressClass | null {
  for (const range of IPV4_TABLE) {
    if ((value & range.mask) >>> 0 === range.base) return range.addressClass;
  }
  return null;
}

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
}

/** Eight 16-bit groups of a valid IPv6 address (a dotted IPv4 tail included). */
function ipv6ToGroups(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = ipv4ToNumber(dotted[1]!);
    text = `${text.slice(0, dotted.index)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const left = parse(head);
  if (tail === undefined) return left;
  const right = parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function classifyIPv6(groups: number[]): AddressClass | null {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  const embeddedV4 = (high: number, low: number) => classifyIPv4(((high << 16) >>> 0) + low);
  const zeroUpTo = (count: number) => groups.slice(0, count).every((group) => group === 0);

  if (zeroUpTo(8)) return 'unspecified';
  if (zeroUpTo(7) && g7 === 1) return 'loopback';
  if (zeroUpTo(5) && g5 === 0xffff) return embeddedV4(g6, g7); // IPv4-mapped
  if (zeroUpTo(6)) return 'reserved'; // deprecated IPv4-compatible
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return embeddedV4(g6, g7); // NAT64
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return 'private'; // local-use NAT64 (RFC 8215)
  if (g0 === 0x2002) return embeddedV4(g1, g2); // 6to4
  if (g0 === 0xfd00 && g1 === 0x0ec2 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0 && g6 === 0 && g7 === 0x254) {
    return 'metadata'; // AWS instance metadata over IPv6
  }
  if ((g0 & 0xfe00) === 0xfc00) return 'private'; // unique local fc00::/7
  if ((g0 & 0xffc0) === 0xfe80) return 'link-local';
  if ((g0 & 0xffc0) === 0xfec0) return 'private'; // deprecated site-local
  if ((g0 & 0xff00) === 0xff00) return 'multicast';
  if (g0 === 0x0100 && g1 === 0 && g2 === 0 && g3 === 0) return 'reserved'; // discard-only
  if (g0 === 0x2001 && g1 === 0x0db8) return 'reserved'; // documentation
  if (g0 === 0x2001 && g1 < 0x0200) return 'reserved'; // IETF protocol assignments (Teredo, ORCHID, ...)
  if (g0 === 0x3fff && g1 < 0x1000) return 'reserved'; // documentation (RFC 9637)
  // Global unicast is 2000::/3; everything else is unassigned.
  if ((g0 & 0xe000) !== 0x2000) return 'reserved';
  return null;
}

/**
 * Refuses a URL whose host is an IP literal of a refused class. Call it before every request: Node does not
 * call `lookup` for an IP literal, so `guardedLookup` alone never sees `http://127.0.0.1/`.
 */
export function assertTargetAllowed(url: URL, allowPrivate: boolean): void {
  if (allowPrivate) return;
  const address = literalAddress(url);
  if (address === null) return;
  const addressClass = classifyAddress(address);
  if (addressClass !== null) throw new WebhookAddressRefusedError(url.hostname, addressClass);
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for `http.request`/`https.request` that resolves like `dns.lookup` and fails with
 * `WebhookAddressRefusedError` when ANY resolved address is refused: a name with one public and one private
 * address could otherwise be steered to the private one by the connection's address selection.
 * It answers in the form Node asked for (`all: true` with an array, else one address and its family).
 * Node calls `lookup` only for names: pair it with `assertTargetAllowed` for IP literals (`guardedNetwork`).
 */
export function guardedLookup(allowPrivate: boolean): net.LookupFunction {
  const lookup = (
    hostname: string,
    optionsOrCallback: dns.LookupOptions | number | LookupCallback,
    maybeCallback?: LookupCallback,
  ): void => {
    const callback = (typeof optionsOrCallback === 'function' ? optionsOrCallback : maybeCallback)!;
    const options: dns.LookupOptions =
      typeof optionsOrCallback === 'function'
        ? {}
        : typeof optionsOrCallback === 'number'
          ? { family: optionsOrCallback }
          : optionsOrCallback;
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      if (!allowPrivate) {
        for (const { address } of addresses) {
          const addressClass = classifyAddress(address);
          if (addressClass !== null) return callback(new WebhookAddressRefusedError(hostname, addressClass), []);
        }
      }
      if (options.all) return callback(null, addresses);
      const [first] = addresses;
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      return callback(null, first.address, first.family);
    });
  };
  return lookup as net.LookupFunction;
}

/**
 * The connect-time guard in the shape the webhook sender takes: `parseUrl` checks the URL's shape and refuses
 * an IP-literal target (which never reaches `lookup`), `lookup` refuses names resolving to refused addresses,
 * `readBounded` caps the answer. A refused target fails with `WebhookAddressRefusedError`.
 */
export function guardedNetwork(allowPrivate: boolean) {
  return {
    parseUrl(raw: string): URL {
      const url = parseWebhookUrl(raw);
      assertTargetAllowed(url, allowPrivate);
      return url;
    },
    lookup: guardedLookup(allowPrivate),
    readBounded,
  };
}

/**
 * The creation-time check (createWebhookEndpoint, updateWebhookEndpoint): the URL's shape, then, unless
 * private networks are allowed, every address its host resolves to. A host that does not resolve is refused
 * too, since nothing about it can be checked. Throws `BAD_USER_INPUT`.
 */
export async function assertWebhookTargetAllowed(url: URL, allowPrivate: boolean): Promise<void> {
  parseWebhookUrl(url.href);
  if (allowPrivate) return;
  try {
    assertTargetAllowed(url, false);
  } catch (error) {
    throw refusedAsInput(error);
  }
  if (literalAddress(url) !== null) return;
  let addresses: dns.LookupAddress[];
  try {
    addresses = await dns.promises.lookup(url.hostname, { all: true, verbatim: true });
  } catch {
    throw new BadInputError(`url host ${url.hostname} does not resolve`);
  }
  for (const { address } of addresses) {
    const addressClass = classifyAddress(address);
    if (addressClass !== null) throw refusedAsInput(new WebhookAddressRefusedError(url.hostname, addressClass));
  }
}

function refusedAsInput(error: unknown): unknown {
  if (!(error instanceof WebhookAddressRefusedError)) return error;
  return new BadInputError(error.message);
}
