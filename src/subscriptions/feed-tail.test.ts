import type { FeedPosition } from '../events/events.core';
import { FeedTail } from './feed-tail';
import type { TailRead, TailRow } from './feed-tail.repository';

/**
 * A feed in memory with the database's rules: rows are ordered by (xid, id), a row is read only once its
 * transaction and every older one have finished (the watermark), and xmax is the next xid to be handed out.
 */
class Feed {
  private readonly rows: TailRow[] = [];
  private readonly running = new Set<bigint>();
  private nextXid = 1n;
  reads = 0;

  begin(): bigint {
    const xid = this.nextXid++;
    this.running.add(xid);
    return xid;
  }

  write(xid: bigint, transactionId: string): void {
    this.rows.push({
      xid,
      id: BigInt(this.rows.length + 1),
      type: 1,
      ledgerId: 'l',
      transactionId,
      entries: [],
      accountIds: [],
      accountLedgerIds: [],
    });
  }

  commit(xid: bigint): void {
    this.running.delete(xid);
  }

  post(transactionId: string): void {
    const xid = this.begin();
    this.write(xid, transactionId);
    this.commit(xid);
  }

  read = async (after: FeedPosition, limit: number): Promise<TailRead> => {
    this.reads += 1;
    const xmin = this.running.size === 0 ? this.nextXid : [...this.running].reduce((a, b) => (a < b ? a : b));
    const rows = this.rows
      .filter((row) => row.xid < xmin && (row.xid > after.xid || (row.xid === after.xid && row.id > after.id)))
      .sort((a, b) => (a.xid === b.xid ? Number(a.id - b.id) : Number(a.xid - b.xid)))
      .slice(0, limit);
    return { rows, xmin, xmax: this.nextXid };
  };
}

const ids = async (rows: TailRow[]) => rows.map((row) => row.transactionId);

async function take(tail: FeedTail<string>, count: number): Promise<string[]> {
  const taken: string[] = [];
  while (taken.length < count) taken.push((await tail.next()).value as string);
  return taken;
}

describe('FeedTail', () => {
  it('replays, then goes live, in feed order, with a posting held open across the switch', async () => {
    const feed = new Feed();
    feed.post('a');
    feed.post('b');
    const tail = new FeedTail<string>({ xid: -1n, id: -1n }, feed.read, ids);
    expect(await take(tail, 2)).toEqual(['a', 'b']);

    const held = feed.begin();
    feed.write(held, 'held');
    feed.post('c');
    tail.wake();
    const next = take(tail, 2);
    // The wake for c finds it above the watermark; the tail polls, and no further wake is needed.
    while (feed.reads < 5) await new Promise((resolve) => setImmediate(resolve));
    feed.commit(held);
    expect(await next).toEqual(['held', 'c']);
    await tail.return();
  });

  it('pages through more rows than one read scans', async () => {
    const feed = new Feed();
    const posted = Array.from({ length: 450 }, (_, n) => `t${n}`);
    for (const id of posted) feed.post(id);
    const tail = new FeedTail<string>({ xid: -1n, id: -1n }, feed.read, ids);
    expect(await take(tail, posted.length)).toEqual(posted);
    await tail.return();
  });

  it('ends a pull that waits when the stream is returned', async () => {
    const feed = new Feed();
    const tail = new FeedTail<string>({ xid: -1n, id: -1n }, feed.read, ids);
    const pulled = tail.next();
    await tail.return();
    expect(await pulled).toEqual({ done: true, value: undefined });
  });

  it('ends with the error of a failed read, running its end listeners', async () => {
    let ended = false;
    const tail = new FeedTail<string>(
      { xid: -1n, id: -1n },
      async () => {
        throw new Error('database away');
      },
      ids,
    );
    tail.onEnd(() => (ended = true));
    await expect(tail.next()).rejects.toThrow('database away');
    expect(ended).toBe(true);
  });
});
