import type { ChangedBalance, CommittedPosting } from './ledger-events';
import type { FanoutItem } from './fanout';
import { decodeMessage, encodeMessages, NOTIFY_PAYLOAD_BYTES_MAX } from './wire.core';

let counter = 0;
const id = () => {
  counter += 1;
  return `0190f000-0000-7000-8000-${String(counter).padStart(12, '0')}`;
};

function row(accountId: string, sharded = false): ChangedBalance {
  return {
    rootLedgerId: 'r',
    accountId,
    assetId: 'asset',
    shard: sharded ? 3 : 0,
    sharded,
    normalBalance: 'DEBIT',
    debitsPosted: 9_223_372_036_854_775_807n,
    creditsPosted: 12n,
    debitsPending: 0n,
    creditsPending: 1n,
    version: 7,
    updatedAt: new Date('2026-11-21T10:00:00.123Z'),
  };
}

function posting(customers: number): CommittedPosting {
  const rootLedgerId = id();
  const system = id();
  const accounts = Array.from({ length: customers }, id);
  return {
    rootLedgerId,
    transactionId: id(),
    ledgerId: rootLedgerId,
    accountLedgerIds: [rootLedgerId],
    accountIds: [system, ...accounts],
    status: 'POSTED',
    balances: [
      { ...row(system, true), rootLedgerId },
      ...accounts.map((account) => ({ ...row(account), rootLedgerId })),
    ],
  };
}

describe('the cross-instance wire format', () => {
  it('carries a posting exactly, bigints and dates included', () => {
    const original = posting(2);
    const [payload, ...rest] = encodeMessages('instance-a', [{ kind: 'posting', posting: original }]);
    expect(rest).toEqual([]);
    const decoded = decodeMessage(payload!);
    expect(decoded!.origin).toBe('instance-a');
    const item = decoded!.items[0] as Extract<FanoutItem, { kind: 'posting' }>;
    // A sharded row travels as its identity only: receivers re-read the summed balance.
    expect(item.posting.balances[0]).toMatchObject({ accountId: original.balances[0]!.accountId, sharded: true });
    expect(item.posting).toEqual({ ...original, balances: [item.posting.balances[0], ...original.balances.slice(1)] });
  });

  it('packs many postings into few payloads, none above the NOTIFY limit, in order', () => {
    const items: FanoutItem[] = Array.from({ length: 200 }, () => ({ kind: 'posting', posting: posting(1) }));
    const payloads = encodeMessages('a', items);
    expect(payloads.length).toBeGreaterThan(1);
    expect(payloads.length).toBeLessThan(200 / 10);
    for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(NOTIFY_PAYLOAD_BYTES_MAX);
    const decoded = payloads.flatMap((payload) => decodeMessage(payload)!.items);
    expect(decoded.map((item) => (item as Extract<FanoutItem, { kind: 'posting' }>).posting.transactionId)).toEqual(
      items.map((item) => (item as Extract<FanoutItem, { kind: 'posting' }>).posting.transactionId),
    );
  });

  it('sends a posting too large for one payload as a reference to read back', () => {
    const large = posting(60);
    const payloads = encodeMessages('a', [
      { kind: 'apiKeyRevoked', keyId: 'k' },
      { kind: 'posting', posting: large },
    ]);
    for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(NOTIFY_PAYLOAD_BYTES_MAX);
    expect(payloads.flatMap((payload) => decodeMessage(payload)!.items)).toEqual([
      { kind: 'apiKeyRevoked', keyId: 'k' },
      { kind: 'reload', rootLedgerId: large.rootLedgerId, transactionId: large.transactionId },
    ]);
  });

  it('carries a reconciliation run as a reference', () => {
    const run = { rootLedgerId: 'root', sourceId: 'source', runId: 'run' };
    const payloads = encodeMessages('a', [{ kind: 'reconciliationRun', run }]);
    expect(payloads.flatMap((payload) => decodeMessage(payload)!.items)).toEqual([{ kind: 'reconciliationRun', run }]);
  });

  it('ignores payloads it does not understand', () => {
    expect(decodeMessage('not json')).toBeNull();
    expect(decodeMessage('{"v":2,"o":"a","i":[]}')).toBeNull();
    expect(decodeMessage('{"v":1,"o":"a","i":[["Z","?"]]}')).toEqual({ origin: 'a', items: [] });
  });
});
