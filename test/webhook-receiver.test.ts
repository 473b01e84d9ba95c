import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { deliveredIds, startWebhookReceiver } from './support/webhook-receiver';

/** The test receiver itself, driven by a sender signing with `standardwebhooks`, so other tests can trust it. */
const secret = () => `whsec_${randomBytes(24).toString('base64')}`;

async function send(url: string, id: string, body: string, signers: string[]) {
  const timestamp = new Date();
  const signature = signers.map((key) => new Webhook(key).sign(id, timestamp, body)).join(' ');
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': signature,
    },
    body,
  });
}

it('records requests, answers as programmed and tells which secrets signed each', async () => {
  const receiver = await startWebhookReceiver((request) =>
    request.path === '/gone' ? { status: 410 } : request.pathIndex % 2 === 0 ? { status: 500 } : { status: 204 },
  );
  try {
    const [oldKey, newKey, stranger] = [secret(), secret(), secret()];
    receiver.trust('/a', oldKey);
    receiver.trust('/a', newKey);
    expect((await send(receiver.url('/a'), 'msg_1', '{"n":1}', [oldKey])).status).toBe(204);
    expect((await send(receiver.url('/a'), 'msg_2', '{"n":2}', [oldKey, newKey])).status).toBe(500);
    expect((await send(receiver.url('/a'), 'msg_3', '{"n":3}', [stranger])).status).toBe(204);
    expect((await send(receiver.url('/gone'), 'msg_4', '{}', [oldKey])).status).toBe(410);
    await receiver.waitFor((requests) => requests.length === 4, 5_000);
    expect(receiver.requests.map((request) => [request.id, request.answer, request.verifiedWith.length])).toEqual([
      ['msg_1', 204, 1],
      ['msg_2', 500, 2],
      ['msg_3', 204, 0],
      ['msg_4', 410, 0],
    ]);
    expect(receiver.verify(receiver.requests[1]!, newKey)).toEqual({ n: 2 });
    expect(() => receiver.verify(receiver.requests[2]!, oldKey)).toThrow('No matching signature found');
    expect(deliveredIds(receiver.requests)).toEqual(new Set(['msg_1', 'msg_3']));
  } finally {
    await receiver.close();
  }
});

it('drops connections, goes dark and comes back on the same port', async () => {
  const receiver = await startWebhookReceiver((request) =>
    request.index === 1 ? { destroy: true } : request.index === 2 ? { darkMs: 300 } : { status: 200 },
  );
  try {
    const key = secret();
    await expect(send(receiver.url('/x'), 'm1', '{}', [key])).rejects.toThrow();
    await expect(send(receiver.url('/x'), 'm2', '{}', [key])).rejects.toThrow();
    // While dark nothing listens: the connection is refused and nothing is recorded.
    await expect(send(receiver.url('/x'), 'm3', '{}', [key])).rejects.toThrow();
    let status = 0;
    while (status !== 200) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = await send(receiver.url('/x'), 'm4', '{}', [key]).then(
        (response) => response.status,
        () => 0,
      );
    }
    expect(receiver.requests.map((request) => request.answer)).toEqual(['destroyed', 'dark', 200]);
    await expect(receiver.waitFor((requests) => requests.length > 3, 100)).rejects.toThrow(
      'condition not met after 100 ms (3 requests)',
    );
  } finally {
    await receiver.close();
  }
});

it('records an answer the sender left before as aborted, not as delivered', async () => {
  const receiver = await startWebhookReceiver(() => ({ status: 200, delayMs: 300 }));
  try {
    await expect(
      fetch(receiver.url('/slow'), { method: 'POST', body: '{}', signal: AbortSignal.timeout(50) }),
    ).rejects.toThrow();
    await receiver.waitFor((requests) => requests.length === 1, 5_000);
    expect(receiver.requests[0]!.answer).toBe('aborted');
    expect(deliveredIds(receiver.requests).size).toBe(0);
  } finally {
    await receiver.close();
  }
});
