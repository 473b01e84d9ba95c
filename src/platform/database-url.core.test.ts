import { DatabaseUrlError, describeHost, parseDatabaseUrl, parseReadUrl } from './database-url.core';

describe('parseDatabaseUrl', () => {
  it('returns a single-host URL unchanged, so node-postgres reads it as before', () => {
    const url = 'postgresql://postgres:s3cret@127.0.0.1:5432/test?sslmode=disable&application_name=x';
    expect(parseDatabaseUrl(url)).toEqual({
      hosts: [{ host: '127.0.0.1', port: 5432 }],
      targetSessionAttrs: 'read-write',
      multiHost: false,
      connectionString: url,
    });
  });

  it('gives a single host without a port the default port', () => {
    expect(parseDatabaseUrl('postgres://db.internal/ledger').hosts).toEqual([{ host: 'db.internal', port: 5432 }]);
  });

  it('splits a host list and hands node-postgres the first host without target_session_attrs', () => {
    const targets = parseDatabaseUrl(
      'postgresql://app:pw@10.0.0.1:6001,db-b:6002,[::1]:6003/ledger?target_session_attrs=primary&sslmode=require',
    );
    expect(targets.hosts).toEqual([
      { host: '10.0.0.1', port: 6001 },
      { host: 'db-b', port: 6002 },
      { host: '::1', port: 6003 },
    ]);
    expect(targets.multiHost).toBe(true);
    expect(targets.targetSessionAttrs).toBe('primary');
    expect(targets.connectionString).toBe('postgresql://app:pw@10.0.0.1:6001/ledger?sslmode=require');
  });

  it('defaults a host list to read-write, since the server writes', () => {
    const targets = parseDatabaseUrl('postgresql://h1:1,h2/db');
    expect(targets.targetSessionAttrs).toBe('read-write');
    expect(targets.hosts).toEqual([
      { host: 'h1', port: 1 },
      { host: 'h2', port: 5432 },
    ]);
    expect(targets.connectionString).toBe('postgresql://h1:1/db');
  });

  it('accepts any, read-write and primary', () => {
    for (const attrs of ['any', 'read-write', 'primary'] as const) {
      expect(parseDatabaseUrl(`postgresql://a:1,b:2/db?target_session_attrs=${attrs}`).targetSessionAttrs).toBe(attrs);
    }
  });

  it('keeps a URL without a path or query well formed', () => {
    expect(parseDatabaseUrl('postgres://u@a:1,b:2').connectionString).toBe('postgres://u@a:1');
    expect(parseDatabaseUrl('postgres://u@a:1,b:2?target_session_attrs=any').connectionString).toBe('postgres://u@a:1');
  });

  it('takes the last @ as the end of the user info, so a host list never reads a password', () => {
    const targets = parseDatabaseUrl('postgresql://u:p%40ss,w@a:1,b:2/db');
    expect(targets.hosts.map(describeHost)).toEqual(['a:1', 'b:2']);
    expect(targets.connectionString).toBe('postgresql://u:p%40ss,w@a:1/db');
  });

  it('decodes percent-encoded Unix socket directories', () => {
    expect(parseDatabaseUrl('postgresql://%2Fvar%2Frun%2Fpostgresql:5433,b:1/db').hosts[0]).toEqual({
      host: '/var/run/postgresql',
      port: 5433,
    });
  });

  it.each([
    ['mysql://h/db', /must start with postgres/],
    ['postgresql://a:1,,b:2/db', /host 2 of the host list is empty/],
    ['postgresql://a:1,b:2,/db', /host 3 of the host list is empty/],
    ['postgresql://a:0,b:2/db', /port of "a:0" must be from 1 to 65535/],
    ['postgresql://a:70000/db', /port of "a:70000"/],
    ['postgresql://a:x1,b/db', /port of "a:x1"/],
    ['postgresql://a:1,:2/db', /host missing before the port/],
    ['postgresql://a:1,::1:2/db', /IPv6 address in brackets/],
    ['postgresql://a:1,[::1:2/db', /unclosed \[/],
    ['postgresql://a:1,[::1]x/db', /unexpected text after \]/],
    ['postgresql://a:1,a:1/db', /lists a:1 twice/],
    ['postgresql://a:1,b:2/db?target_session_attrs=standby', /selects a standby/],
    ['postgresql://a:1,b:2/db?target_session_attrs=read-only', /selects a standby/],
    ['postgresql://a:1,b:2/db?target_session_attrs=writable', /must be one of any, read-write, primary/],
    ['postgresql://a/db?host=h1,h2', /not in \?host=/],
    ['postgresql://a:1,b%ZZ:2/db', /bad percent-encoding/],
  ])('refuses %s with a message that names the problem', (url, message) => {
    expect(() => parseDatabaseUrl(url)).toThrow(DatabaseUrlError);
    expect(() => parseDatabaseUrl(url)).toThrow(message);
  });

  it('bounds the host list', () => {
    const many = Array.from({ length: 17 }, (_, i) => `h${i}:5432`).join(',');
    expect(() => parseDatabaseUrl(`postgresql://${many}/db`)).toThrow(/at most 16/);
    const sixteen = Array.from({ length: 16 }, (_, i) => `h${i}:5432`).join(',');
    expect(parseDatabaseUrl(`postgresql://${sixteen}/db`).hosts).toHaveLength(16);
  });
});

describe('describeHost', () => {
  it('brackets IPv6 addresses', () => {
    expect(describeHost({ host: '::1', port: 5432 })).toBe('[::1]:5432');
    expect(describeHost({ host: '127.0.0.1', port: 1 })).toBe('127.0.0.1:1');
  });
});

describe('parseReadUrl', () => {
  it('reads a replica host list, dropping target_session_attrs and naming DATABASE_READ_URL in errors', () => {
    const targets = parseReadUrl('postgresql://app@r1:5433,r2/ledger?target_session_attrs=standby&sslmode=disable');
    expect(targets.hosts).toEqual([
      { host: 'r1', port: 5433 },
      { host: 'r2', port: 5432 },
    ]);
    expect(targets.connectionString).toBe('postgresql://app@r1:5433/ledger?sslmode=disable');
    expect(parseReadUrl('postgresql://r1/ledger?target_session_attrs=read-only').connectionString).toBe(
      'postgresql://r1/ledger',
    );
    expect(() => parseReadUrl('postgresql://r1,,r2/ledger')).toThrow(
      'DATABASE_READ_URL: host 2 of the host list is empty',
    );
  });
});
