import { existsSync } from 'node:fs';
import path from 'node:path';
import express from 'express';
import type { Logger } from '../platform/logger.js';
import { defaultDocument } from './default-document.js';

/** Where `npm run build` puts the bundled IDE (./build.js); the same place from src/ (tests) and dist/. */
export const GRAPHIQL_ASSETS_DIR = path.resolve(__dirname, '../../dist/public/graphiql');

const PLACEHOLDER_HEADERS = { Authorization: 'Bearer <your API key or customer token>' };

// The page may carry a secret (the embedded admin key): never cached, never framed, nothing inline runs.
const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self' ws: wss:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; '),
};

// The IDE's tab icon: a small SVG kept here rather than in the bundle, so a browser's /favicon.ico asks
// cost nothing and never show as 404s in the console or the access log.
const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#e10098"/><path d="M9 8h4v12h10v4H9z" fill="#fff"/></svg>`;

export interface GraphiQLOptions {
  /** Headers the IDE starts with; absent, it shows a placeholder to replace. */
  headers?: Record<string, string>;
  logger: Logger;
}

export function renderGraphiQLPage(headers: Record<string, string> | undefined): string {
  const config = {
    endpoint: '/graphql',
    headers: JSON.stringify(headers ?? PLACEHOLDER_HEADERS, null, 2),
    prefilled: headers !== undefined,
    defaultQuery: defaultDocument(headers !== undefined),
  };
  // JSON inside <script> must not be able to close the element.
  const json = JSON.stringify(config).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reward Ledger · GraphiQL</title>
<link rel="icon" type="image/svg+xml" href="/graphiql/favicon.svg">
<link rel="stylesheet" href="/graphiql/assets/graphiql.css">
<style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script id="graphiql-config" type="application/json">${json}</script>
<script src="/graphiql/assets/graphiql.js"></script>
</body>
</html>
`;
}

/** A browser navigating to /graphql gets the IDE; API clients (JSON, or anything with a query) get GraphQL. */
function wantsPage(req: express.Request): boolean {
  return (
    req.query.query === undefined &&
    req.accepts(['application/graphql-response+json', 'application/json', 'text/html']) === 'text/html'
  );
}

/** Serves GraphiQL at /graphiql, and at /graphql to browsers; its assets under /graphiql/assets. */
export function mountGraphiQL(app: express.Express, options: GraphiQLOptions): void {
  const built = existsSync(path.join(GRAPHIQL_ASSETS_DIR, 'graphiql.js'));
  if (!built)
    options.logger.warn('GraphiQL is not built (run npm run build); /graphiql answers 503', {
      dir: GRAPHIQL_ASSETS_DIR,
    });
  const page = renderGraphiQLPage(options.headers);

  const sendPage = (_req: express.Request, res: express.Response) => {
    if (!built) {
      res.status(503).type('text/plain').send('GraphiQL is not built on this server: run npm run build\n');
      return;
    }
    res.set(PAGE_HEADERS).send(page);
  };

  app.use('/graphiql/assets', express.static(GRAPHIQL_ASSETS_DIR, { index: false, fallthrough: false, maxAge: '1h' }));
  app.get('/graphiql', sendPage);
  // Browsers ask /favicon.ico of any page; SVG there is understood by every browser GraphiQL supports.
  app.get(['/graphiql/favicon.svg', '/favicon.ico'], (_req, res) => {
    res.set({ 'Content-Type': 'image/svg+xml', 'Cache-Control': 'public, max-age=86400' }).send(FAVICON_SVG);
  });
  app.get('/graphql', (req, res, next) => (wantsPage(req) ? sendPage(req, res) : next()));
}
