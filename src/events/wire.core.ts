import type { ChangedBalance, CommittedPosting } from './ledger-events.js';
import type { FanoutItem, FanoutMessage } from './fanout.js';

/**
 * The cross-instance wire format: pure functions, no I/O. Items are packed into as few payloads as fit
 * `payloadBytesMax` each (Postgres NOTIFY refuses payloads of 8000 bytes or more). A posting whose own
 * encoding does not fit becomes a `reload` reference. Rows of sharded (hot system) balances travel
 * without totals: a receiver re-reads the summed balance anyway.
 */
export const WIRE_VERSION = 1;
export const NOTIFY_PAYLOAD_BYTES_MAX = 7_900;

type WireBalance =
  | [string, string]
  | [string, string, number, 'C' | 'D', string, string, string, string, number, number];
type WireItem =
  | ['P', string, string, string, string[], string[], CommittedPosting['status'], WireBalance[]]
  | ['R', string, string]
  | ['K', string]
  | ['U', string, string, string];

function encodeBalance(balance: ChangedBalance): WireBalance {
  if (balance.sharded) return [balance.accountId, balance.assetId];
  return [
    balance.accountId,
    balance.assetId,
    balance.shard,
    balance.normalBalance === 'CREDIT' ? 'C' : 'D',
    balance.debitsPosted.toString(),
    balance.creditsPosted.toString(),
    balance.debitsPending.toString(),
    balance.creditsPending.toString(),
    balance.version,
    balance.updatedAt.getTime(),
  ];
}

function encodeItem(item: FanoutItem): WireItem {
  switch (item.kind) {
    case 'posting': {
      const { posting } = item;
      return [
        'P',
        posting.rootLedgerId,
        posting.transactionId,
        posting.ledgerId,
        posting.accountLedgerIds,
        posting.accountIds,
        posting.status,
        posting.balances.map(encodeBalance),
      ];
    }
    case 'reload':
      return ['R', item.rootLedgerId, item.transactionId];
    case 'apiKeyRevoked':
      return ['K', item.keyId];
    case 'reconciliationRun':
      return ['U', item.run.rootLedgerId, item.run.sourceId, item.run.runId];
  }
}

/** Packs items into payloads of at most `payloadBytesMax` bytes each, in order. */
export function encodeMessages(
  origin: string,
  items: FanoutItem[],
  payloadBytesMax = NOTIFY_PAYLOAD_BYTES_MAX,
): string[] {
  const head = `{"v":${WIRE_VERSION},"o":${JSON.stringify(origin)},"i":[`;
  const tail = ']}';
  const room = payloadBytesMax - Buffer.byteLength(head) - Buffer.byteLength(tail);
  const payloads: string[] = [];
  let chunks: string[] = [];
  let used = 0;
  for (const item of items) {
    let chunk = JSON.stringify(encodeItem(item));
    if (Buffer.byteLength(chunk) > room && item.kind === 'posting') {
      chunk = JSON.stringify(
        encodeItem({
          kind: 'reload',
          rootLedgerId: item.posting.rootLedgerId,
          transactionId: item.posting.transactionId,
        }),
      );
    }
    const size = Buffer.byteLength(chunk) + (chunks.length > 0 ? 1 : 0);
    if (chunks.length > 0 && used + size > room) {
      payloads.push(head + chunks.join(',') + tail);
      chunks = [];
      used = 0;
    }
    used += Buffer.byteLength(chunk) + (chunks.length > 0 ? 1 : 0);
    chunks.push(chunk);
  }
  if (chunks.length > 0) payloads.push(head + chunks.join(',') + tail);
  return payloads;
}

function decodeBalance(rootLedgerId: string, wire: WireBalance): ChangedBalance {
  if (wire.length === 2) {
    // A hot account's row: only its identity matters, the receiver re-reads the summed balance.
    return {
      rootLedgerId,
      accountId: wire[0],
      assetId: wire[1],
      shard: 0,
      sharded: true,
      normalBalance: 'CREDIT',
      debitsPosted: 0n,
      creditsPosted: 0n,
      debitsPending: 0n,
      creditsPending: 0n,
      version: 0,
      updatedAt: new Date(0),
    };
  }
  const [
    accountId,
    assetId,
    shard,
    normal,
    debitsPosted,
    creditsPosted,
    debitsPending,
    creditsPending,
    version,
    updatedAtMs,
  ] = wire;
  return {
    rootLedgerId,
    accountId,
    assetId,
    shard,
    sharded: false,
    normalBalance: normal === 'C' ? 'CREDIT' : 'DEBIT',
    debitsPosted: BigInt(debitsPosted),
    creditsPosted: BigInt(creditsPosted),
    debitsPending: BigInt(debitsPending),
    creditsPending: BigInt(creditsPending),
    version,
    updatedAt: new Date(updatedAtMs),
  };
}

function decodeItem(wire: WireItem): FanoutItem | null {
  switch (wire[0]) {
    case 'P': {
      const [, rootLedgerId, transactionId, ledgerId, accountLedgerIds, accountIds, status, balances] = wire;
      return {
        kind: 'posting',
        posting: {
          rootLedgerId,
          transactionId,
          ledgerId,
          accountLedgerIds,
          accountIds,
          status,
          balances: balances.map((balance) => decodeBalance(rootLedgerId, balance)),
        },
      };
    }
    case 'R':
      return { kind: 'reload', rootLedgerId: wire[1], transactionId: wire[2] };
    case 'K':
      return { kind: 'apiKeyRevoked', keyId: wire[1] };
    case 'U':
      return { kind: 'reconciliationRun', run: { rootLedgerId: wire[1], sourceId: wire[2], runId: wire[3] } };
    default:
      return null;
  }
}

/** Reads one payload; null for anything this version does not understand (a newer instance, or noise). */
export function decodeMessage(payload: string): FanoutMessage | null {
  try {
    const parsed = JSON.parse(payload) as { v?: unknown; o?: unknown; i?: unknown };
    if (parsed.v !== WIRE_VERSION || typeof parsed.o !== 'string' || !Array.isArray(parsed.i)) return null;
    return { origin: parsed.o, items: (parsed.i as WireItem[]).map(decodeItem).filter((item) => item !== null) };
  } catch {
    return null;
  }
}
