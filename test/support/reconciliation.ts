import { key } from './builders';
import { ADMIN_KEY, ok, type TestServer } from './server';

/** Builders and an HTTP client for reconciliation sources and imports, through the public API. */

export async function createSource(
  t: TestServer,
  ledgerId: string,
  input: { code?: string; name?: string; continuous?: boolean } = {},
): Promise<{ id: string; code: string }> {
  return ok(
    await t.gql('mutation($i: CreateExternalSourceInput!) { createExternalSource(input: $i) { id code } }', {
      i: { ledgerId, code: input.code ?? key('src'), name: input.name ?? 'Partner', continuous: input.continuous },
    }),
  ).createExternalSource;
}

export const IMPORT_RECORDS = `mutation($i: ImportExternalRecordsInput!) {
  importExternalRecords(input: $i) { id inserted updated unchanged rejectedCount replayed rejected { line externalId message } }
}`;

export interface HttpAnswer {
  status: number;
  body: any;
}

/** POSTs a body to the streamed import; `body` may be a string, bytes or an async iterable of chunks. */
export async function httpImport(
  t: TestServer,
  sourceId: string,
  body: string | Uint8Array | AsyncIterable<Uint8Array>,
  options: { contentType?: string | null; idempotencyKey?: string | null; secret?: string | null } = {},
): Promise<HttpAnswer> {
  const headers: Record<string, string> = {};
  const contentType = options.contentType === undefined ? 'text/csv' : options.contentType;
  if (contentType !== null) headers['content-type'] = contentType;
  const idempotencyKey = options.idempotencyKey === undefined ? key('import') : options.idempotencyKey;
  if (idempotencyKey !== null) headers['idempotency-key'] = idempotencyKey;
  const secret = options.secret === undefined ? ADMIN_KEY : options.secret;
  if (secret !== null) headers.authorization = `Bearer ${secret}`;
  const base = t.url.replace(/\/graphql$/, '');
  const streamed = typeof body !== 'string' && !(body instanceof Uint8Array);
  const response = await fetch(`${base}/reconciliation/sources/${sourceId}/records`, {
    method: 'POST',
    headers,
    body: streamed ? (ReadableStreamFrom(body) as any) : (body as any),
    ...(streamed ? { duplex: 'half' } : {}),
  } as RequestInit);
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed };
}

function ReadableStreamFrom(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
  });
}

/** The source's current records by externalId (at most 500). */
export async function recordsOf(
  t: TestServer,
  sourceId: string,
): Promise<Map<string, { version: number; amount: string; status: string }>> {
  const data = ok(
    await t.gql(
      'query($s: ID!) { externalRecords(sourceId: $s, first: 500) { edges { node { externalId version amount status } } } }',
      { s: sourceId },
    ),
  );
  return new Map(
    data.externalRecords.edges.map((edge: any) => [
      edge.node.externalId,
      { version: edge.node.version, amount: edge.node.amount, status: edge.node.status },
    ]),
  );
}
