/**
 * libpq-style multi-host connection strings: `postgresql://user@h1:5432,h2:5433/db?target_session_attrs=read-write`.
 * node-postgres parses one host; this module splits the host list off and leaves everything else (user,
 * password, database, SSL and the other parameters) to node-postgres, by handing it the URL with the first
 * host only. Pure: no sockets, no node-postgres.
 */

/** One entry of the host list. A host that starts with `/` is a Unix socket directory, as in libpq. */
export interface DatabaseHost {
  host: string;
  port: number;
}

/**
 * Which session a connection must land on. The server writes, so only the kinds that accept writes (or make
 * no check, as libpq's default does) are accepted: `read-write` (transaction_read_only is off), `primary` (not
 * in recovery) and `any` (the first host that answers).
 */
export type TargetSessionAttrs = 'any' | 'read-write' | 'primary';

export interface DatabaseTargets {
  hosts: readonly DatabaseHost[];
  targetSessionAttrs: TargetSessionAttrs;
  /** More than one host: the server must locate the primary and follow it. */
  multiHost: boolean;
  /**
   * The URL node-postgres parses for everything but the host: unchanged for a single host, and for a host
   * list the first host alone, without `target_session_attrs`.
   */
  connectionString: string;
}

export class DatabaseUrlError extends Error {}

export const DEFAULT_PORT = 5432;
/** Bound the list: every connection attempt may try each host. */
export const DATABASE_HOSTS_MAX = 16;

const ACCEPTED_ATTRS: readonly TargetSessionAttrs[] = ['any', 'read-write', 'primary'];
// libpq's other values select standbys, which cannot take the server's writes.
const STANDBY_ATTRS = ['read-only', 'standby', 'prefer-standby'];

/**
 * Splits a connection string into its hosts and what the session must be. A single-host URL is returned as
 * it is, so it behaves exactly as node-postgres has always read it; a host list must name every host.
 */
export function parseDatabaseUrl(url: string): DatabaseTargets {
  const scheme = /^(postgres(?:ql)?):\/\//.exec(url);
  if (scheme === null) throw new DatabaseUrlError('DATABASE_URL must start with postgres:// or postgresql://');
  const rest = url.slice(scheme[0].length);
  const authorityEnd = firstIndexOf(rest, ['/', '?', '#']);
  const authority = rest.slice(0, authorityEnd);
  const tail = rest.slice(authorityEnd);
  const at = authority.lastIndexOf('@');
  const userInfo = at === -1 ? '' : authority.slice(0, at + 1);
  const hostList = authority.slice(at + 1);

  const queryStart = tail.indexOf('?');
  const fragmentStart = tail.indexOf('#');
  const query =
    queryStart === -1 ? '' : tail.slice(queryStart + 1, fragmentStart > queryStart ? fragmentStart : undefined);
  const params = new URLSearchParams(query);
  const attrs = targetSessionAttrs(params.get('target_session_attrs'));
  if ((params.get('host') ?? '').includes(',')) {
    throw new DatabaseUrlError('DATABASE_URL: list several hosts in the authority (h1:p1,h2:p2), not in ?host=');
  }

  const entries = hostList.split(',');
  if (entries.length === 1) {
    // One host: node-postgres reads it as it always has; only the port is checked, for a clear message.
    const only = entries[0] === '' ? null : parseHost(entries[0], true);
    return {
      hosts: [only ?? { host: 'localhost', port: DEFAULT_PORT }],
      targetSessionAttrs: attrs,
      multiHost: false,
      connectionString: url,
    };
  }
  if (entries.length > DATABASE_HOSTS_MAX) {
    throw new DatabaseUrlError(
      `DATABASE_URL lists ${entries.length} hosts; at most ${DATABASE_HOSTS_MAX} are accepted`,
    );
  }
  const hosts = entries.map((entry, index) => {
    if (entry === '') throw new DatabaseUrlError(`DATABASE_URL: host ${index + 1} of the host list is empty`);
    return parseHost(entry, false);
  });
  const seen = new Set<string>();
  for (const host of hosts) {
    const key = describeHost(host);
    if (seen.has(key)) throw new DatabaseUrlError(`DATABASE_URL lists ${key} twice`);
    seen.add(key);
  }

  params.delete('target_session_attrs');
  const remaining = params.toString();
  const path = queryStart === -1 ? tail : tail.slice(0, queryStart);
  const first = entries[0];
  return {
    hosts,
    targetSessionAttrs: attrs,
    multiHost: true,
    connectionString: `${scheme[0]}${userInfo}${first}${path}${remaining === '' ? '' : `?${remaining}`}`,
  };
}

/** `host:port`, with brackets around an IPv6 address: how logs and errors name a host. */
export function describeHost({ host, port }: DatabaseHost): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function targetSessionAttrs(raw: string | null): TargetSessionAttrs {
  // The server always writes; with no value given, a host list looks for the one that takes writes.
  if (raw === null || raw === '') return 'read-write';
  if ((ACCEPTED_ATTRS as readonly string[]).includes(raw)) return raw as TargetSessionAttrs;
  if (STANDBY_ATTRS.includes(raw)) {
    throw new DatabaseUrlError(
      `DATABASE_URL: target_session_attrs=${raw} selects a standby, which cannot take the ledger's writes; use read-write`,
    );
  }
  throw new DatabaseUrlError(
    `DATABASE_URL: target_session_attrs must be one of ${ACCEPTED_ATTRS.join(', ')}; got ${JSON.stringify(raw)}`,
  );
}

function parseHost(entry: string, single: boolean): DatabaseHost {
  let host: string;
  let portText: string | undefined;
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close === -1) throw new DatabaseUrlError(`DATABASE_URL: unclosed [ in host ${JSON.stringify(entry)}`);
    host = entry.slice(1, close);
    const after = entry.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) {
      throw new DatabaseUrlError(`DATABASE_URL: unexpected text after ] in host ${JSON.stringify(entry)}`);
    }
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colon = entry.lastIndexOf(':');
    host = colon === -1 ? entry : entry.slice(0, colon);
    portText = colon === -1 ? undefined : entry.slice(colon + 1);
    if (host.includes(':')) {
      throw new DatabaseUrlError(`DATABASE_URL: put an IPv6 address in brackets: ${JSON.stringify(entry)}`);
    }
  }
  try {
    host = decodeURIComponent(host);
  } catch {
    throw new DatabaseUrlError(`DATABASE_URL: bad percent-encoding in host ${JSON.stringify(entry)}`);
  }
  if (host === '' && !single) throw new DatabaseUrlError(`DATABASE_URL: host missing before the port in ${entry}`);
  if (/[\s/?#@]/.test(host) && !host.startsWith('/')) {
    throw new DatabaseUrlError(`DATABASE_URL: ${JSON.stringify(host)} is not a host name`);
  }
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65_535) {
      throw new DatabaseUrlError(`DATABASE_URL: port of ${JSON.stringify(entry)} must be from 1 to 65535`);
    }
    port = Number(portText);
  }
  return { host: host === '' ? 'localhost' : host, port };
}

function firstIndexOf(text: string, characters: readonly string[]): number {
  let first = text.length;
  for (const character of characters) {
    const index = text.indexOf(character);
    if (index !== -1 && index < first) first = index;
  }
  return first;
}

/**
 * `DATABASE_READ_URL`: the same syntax, every host a replica to read from. `target_session_attrs` is the
 * reader's to decide (each host is used as a standby), so it is dropped; messages name the read URL.
 */
export function parseReadUrl(url: string): DatabaseTargets {
  const withoutAttrs = url.replace(/([?&])target_session_attrs=[^&#]*(&|(?=#)|$)/, (_match, lead, next) =>
    next === '&' ? lead : '',
  );
  try {
    return parseDatabaseUrl(withoutAttrs);
  } catch (error) {
    if (!(error instanceof DatabaseUrlError)) throw error;
    throw new DatabaseUrlError(error.message.replace(/^DATABASE_URL/, 'DATABASE_READ_URL'));
  }
}
