import { readFileSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createAccount, createProgram, issue } from './support/builders';
import { ok, startTestServer, type TestServer } from './support/server';

/**
 * The README's "Receive events in your backend", run as printed: the endpoint mutation, and the receiver
 * that verifies with `standardwebhooks`, against a real server delivering to it.
 */
const readme = readFileSync(path.resolve(__dirname, '../README.md'), 'utf8');

function block(marker: string, language: string): string {
  const match = new RegExp(`<!-- readme-webhooks: ${marker} -->\\s*\`\`\`${language}\\n([\\s\\S]*?)\`\`\``).exec(
    readme,
  );
  if (!match) throw new Error(`README has no ${language} block after <!-- readme-webhooks: ${marker} -->`);
  return match[1]!;
}

type StartReceiver = (options: {
  secret: string;
  port: number;
  onEvent: (event: { id: string; type: string; data: any }) => Promise<void>;
}) => http.Server;

/** The ES module as a function: its imports become requires, its export a return value. */
function loadStartReceiver(): StartReceiver {
  const commonJs = block('receiver', 'js')
    .replace("import http from 'node:http';", "const http = require('node:http');")
    .replace("import { Webhook } from 'standardwebhooks';", "const { Webhook } = require('standardwebhooks');")
    .replace('export function startReceiver', 'function startReceiver');
  expect(commonJs).not.toMatch(/^\s*(import|export)\b/m);
  return new Function('require', `${commonJs}\nreturn startReceiver;`)(require) as StartReceiver;
}

let t: TestServer;
let server: http.Server | undefined;
beforeAll(async () => {
  t = await startTestServer({ webhooks: { pollIntervalMs: 50, retryScale: 0.001 } });
});
afterAll(async () => {
  server?.close();
  await t.stop();
});

it('receives, verifies and deduplicates postings with the README receiver', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);

  // The receiver needs the secret and the endpoint needs the receiver's port: create, start, then point.
  const created = ok(
    await t.gql(
      block('create', 'graphql')
        .replace('"LEDGER_ID"', JSON.stringify(ledgerId))
        .replace('"https://partner.example.com/ledger-events"', '"http://127.0.0.1:1/not-yet"'),
    ),
  ).createWebhookEndpoint;
  expect(created.endpoint.status).toBe('ENABLED');

  const received: Array<{ id: string; type: string; data: any }> = [];
  let failures = 0;
  let done: () => void = () => undefined;
  const bothHandled = new Promise<void>((resolve) => {
    done = resolve;
  });
  server = loadStartReceiver()({
    secret: created.secret,
    port: 0,
    onEvent: async (event) => {
      // The first handling fails: the README's 500 makes the ledger retry it with the same webhook-id.
      if (failures === 0) {
        failures += 1;
        throw new Error('database briefly down');
      }
      received.push(event);
      if (received.length === 2) done();
    },
  });
  await new Promise<void>((resolve) => (server!.listening ? resolve() : server!.once('listening', () => resolve())));
  const port = (server.address() as AddressInfo).port;
  ok(
    await t.gql(`mutation($id: ID!, $url: String!) { updateWebhookEndpoint(id: $id, input: { url: $url }) { id } }`, {
      id: created.endpoint.id,
      url: `http://127.0.0.1:${port}/ledger-events`,
    }),
  );

  const first = await issue(t, account.id, '10');
  const second = await issue(t, account.id, '20');
  await bothHandled;
  // The retried one may come after the next: order is best effort, delivery is not.
  expect(received.map((event) => [event.type, event.data.transaction.id]).sort()).toEqual(
    [
      ['transaction.posted', first],
      ['transaction.posted', second],
    ].sort(),
  );
  expect(failures).toBe(1);

  // A request the ledger did not sign is refused with a 400, which the ledger would never retry.
  const forged = await fetch(`http://127.0.0.1:${port}/ledger-events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': received[0]!.id,
      'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
      'webhook-signature': 'v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
    },
    body: JSON.stringify(received[0]),
  });
  expect(forged.status).toBe(400);
  expect(received).toHaveLength(2);
});
