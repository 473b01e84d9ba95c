/**
 * Where a new endpoint starts in the feed, pure. The feed's head is conservative: it sits below the oldest
 * transaction still running, so an endpoint starting there would also receive events of transactions
 * that committed just before it was created. The endpoint keeps the snapshot of its creation
 * (`pg_current_snapshot()`, as text `xmin:xmax:xip,…`) and skips the events it shows as committed:
 * exactly the events that commit after the endpoint was created are delivered.
 */
export interface StartSnapshot {
  xmin: bigint;
  xmax: bigint;
  inProgress: ReadonlySet<bigint>;
}

const SNAPSHOT_PATTERN = /^([0-9]+):([0-9]+):([0-9,]*)$/;

export function parseSnapshot(text: string): StartSnapshot {
  const match = SNAPSHOT_PATTERN.exec(text);
  if (!match) throw new Error(`not a pg_snapshot: ${text.slice(0, 80)}`);
  return {
    xmin: BigInt(match[1]!),
    xmax: BigInt(match[2]!),
    inProgress: new Set(match[3] === '' ? [] : match[3]!.split(',').map((xid) => BigInt(xid))),
  };
}

/** Whether a transaction had committed (or aborted, which left no event) when the snapshot was taken. */
export function finishedBefore(snapshot: StartSnapshot, xid: bigint): boolean {
  if (xid < snapshot.xmin) return true;
  return xid < snapshot.xmax && !snapshot.inProgress.has(xid);
}
