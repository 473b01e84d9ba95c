import { canonicalJson } from './postings.core.js';

/**
 * Why a reused idempotency key conflicts, told from what the ledger stored: the server keeps only a
 * digest of the original request, so the fields compared are those the transaction itself records.
 * A difference of phrasing alone (accountCode for accountId, say) names no field.
 */
export interface RecordedPosting {
  ledgerId: string;
  kind: string;
  description: string | null;
  metadata: Record<string, unknown>;
  effectiveAt: Date;
}

export interface RecordedEntry {
  accountId: string;
  assetId: string;
  direction: string;
  amount: bigint;
}

/** The fields, in the client's terms, in which `retried` differs from `original`; sorted. */
export function differingFields(
  original: RecordedPosting,
  originalEntries: readonly RecordedEntry[],
  retried: RecordedPosting,
  retriedEntries: readonly RecordedEntry[],
  /** Only a retry that names effectiveAt can differ in it; otherwise each attempt's is its own now. */
  effectiveAtGiven: boolean,
): string[] {
  const fields: string[] = [];
  if (original.ledgerId !== retried.ledgerId) fields.push('ledgerId');
  if (original.kind !== retried.kind) fields.push('kind');
  if (original.description !== retried.description) fields.push('description');
  if (canonicalJson(original.metadata) !== canonicalJson(retried.metadata)) fields.push('metadata');
  if (effectiveAtGiven && original.effectiveAt.getTime() !== retried.effectiveAt.getTime()) fields.push('effectiveAt');
  const lines = (entries: readonly RecordedEntry[], withAmount: boolean) =>
    entries
      .map((entry) => [entry.accountId, entry.assetId, entry.direction, withAmount ? entry.amount : ''].join('|'))
      .sort()
      .join('\n');
  if (lines(originalEntries, true) !== lines(retriedEntries, true)) {
    // The same lines with other amounts is the common case (a retry of "redeem 500" as "redeem 600").
    const sameLines = lines(originalEntries, false) === lines(retriedEntries, false);
    fields.push(sameLines ? 'amount' : 'entries');
  }
  return fields.sort();
}
