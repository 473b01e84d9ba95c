import type http from 'node:http';
import querystring from 'node:querystring';
import { parse as parseUrl } from 'node:url';
import { type ApolloServer, type BaseContext, HeaderMap } from '@apollo/server';
import { BODY_ABORTED, BODY_TOO_LARGE, type BodyProblem, parseJsonBody } from './json-body.core.js';
import type { Logger } from './logger.js';
import { findUnacceptableText } from './request-hygiene.js';

/**
 * POST /graphql straight on node:http: the request every client sends, answered without express's router,
 * body-parser and response helpers (together a sixth of a `{ __typename }` request's CPU). Only the plain
 * shape is taken here: a JSON body (no charset but UTF-8, no content encoding) to exactly /graphql. Every
 * other request, including every unusual POST, goes to express unchanged, so its answer is the one it always
 * was; for the plain shape this module answers byte for byte what the express path answers
 * (test/graphql-fast-path.test.ts compares the two on the same requests).
 */

// What body-parser's `type: 'application/json'` plus its UTF-8 default accept without further thought.
const PLAIN_JSON_TYPES = new Set([
  'application/json',
  'application/json; charset=utf-8',
  'application/json;charset=utf-8',
]);

/** True for the requests this module answers; false sends a request down express's stack. */
export function isPlainGraphQLPost(req: http.IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const url = req.url ?? '';
  if (url !== '/graphql' && !url.startsWith('/graphql?')) return false;
  const type = req.headers['content-type'];
  if (type === undefined || !PLAIN_JSON_TYPES.has(type.toLowerCase())) return false;
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  // A POST without a body is left to express too (body-parser leaves req.body unset, Apollo explains).
  return req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined;
}

/**
 * Reads the whole body, at most `limit` bytes. Over the limit (declared or counted) the rest is read off
 * and dropped before answering, as body-parser does, so the client sees the 413 rather than a reset.
 */
export function readBody(req: http.IncomingMessage, limit: number): Promise<string | BodyProblem> {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length']);
    let tooLarge = declared > limit;
    let received = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      received += chunk.length;
      if (received > limit) {
        tooLarge = true;
        chunks.length = 0;
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) resolve(BODY_TOO_LARGE);
      else resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
    req.on('aborted', () => resolve(BODY_ABORTED));
    req.on('error', () => resolve(BODY_ABORTED));
  });
}

export interface GraphQLPostOptions<Context extends BaseContext> {
  apollo: ApolloServer<Context>;
  bodyLimitBytes: number;
  requestId: string;
  /** Builds the GraphQL context from the request's credential and peer address (app.ts, both paths). */
  context: (authorization: string | undefined, clientAddress: string | null) => Promise<Context>;
  logger: Logger;
}

/** Answers one plain POST /graphql (isPlainGraphQLPost); X-Request-Id is already set on `res`. */
export async function serveGraphQLPost<Context extends BaseContext>(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  options: GraphQLPostOptions<Context>,
): Promise<void> {
  try {
    const read = await readBody(req, options.bodyLimitBytes);
    const parsed = typeof read === 'string' ? parseJsonBody(read) : read;
    if ('status' in parsed) return sendError(res, parsed);
    const url = req.url!;
    const parsedUrl = url.includes('?') ? parseUrl(url) : null;
    const problem =
      findUnacceptableText(parsed.body) ??
      (parsedUrl === null ? null : findUnacceptableText(querystring.parse(parsedUrl.query ?? '')));
    if (problem !== null) return sendError(res, { status: 400, message: problem });

    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const response = await options.apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: 'POST', headers, search: parsedUrl?.search ?? '', body: parsed.body },
      context: () => options.context(req.headers.authorization, req.socket.remoteAddress ?? null),
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      const type = res.getHeader('content-type');
      // express's res.send names the charset of every text body it sends.
      res.setHeader('Content-Type', withCharset(typeof type === 'string' ? type : 'text/html'));
      res.setHeader('Content-Length', Buffer.byteLength(response.body.string));
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  } catch (error) {
    // What express's error handler (app.ts) does with a request that failed outright.
    if (res.headersSent) {
      res.destroy();
      return;
    }
    options.logger.error('unhandled HTTP error', { requestId: options.requestId, error });
    sendJson(res, 500, {
      errors: [{ message: 'internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR', retryable: false } }],
    });
  }
}

function withCharset(type: string): string {
  return /;\s*charset=/i.test(type) ? type : `${type}; charset=utf-8`;
}

/** The coded 4xx that app.ts's express error handler and request hygiene answer. */
function sendError(res: http.ServerResponse, problem: BodyProblem): void {
  sendJson(res, problem.status, {
    errors: [{ message: problem.message, extensions: { code: 'BAD_USER_INPUT', retryable: false } }],
  });
}

// As express's res.json: compact JSON, its content type with charset, and its length.
function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}
