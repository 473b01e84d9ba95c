// The GraphiQL page's script, bundled by ./build.js (esbuild) into dist/public/graphiql at build time,
// so the IDE works offline: no CDN, every byte served by the API itself.
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import React from 'react';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';

// The server writes its settings into the page as JSON (never as script), so nothing inline runs; the
// default document comes from there too (src/graphiql/default-document.ts), where a test runs it.
const config = JSON.parse(document.getElementById('graphiql-config').textContent);
const endpoint = new URL(config.endpoint, window.location.href);
const websocketEndpoint = new URL(endpoint);
websocketEndpoint.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';

// Subscriptions open a graphql-ws connection whose connection_init payload is the Headers tab, so the
// same `Authorization` works over HTTP and WebSocket.
const fetchGraphQL = createGraphiQLFetcher({ url: endpoint.href, subscriptionUrl: websocketEndpoint.href });
// GraphiQL asks for the schema before its Headers tab exists, so that first request would go without
// credentials (and fail): it gets the headers the page was given, when the server gave real ones.
const initialHeaders = config.prefilled ? JSON.parse(config.headers) : undefined;
const fetcher = (params, options) =>
  fetchGraphQL(params, options?.headers ? options : { ...options, headers: initialHeaders });

createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery: config.defaultQuery,
    defaultHeaders: config.headers,
    headers: config.prefilled ? config.headers : undefined,
    defaultEditorToolsVisibility: 'headers',
    shouldPersistHeaders: false,
  }),
);
