import type { TailRead } from './feed-tail.repository';
import { TailReads } from './tail-reads';

const page: TailRead = { rows: [], xmin: 5n, xmax: 6n };

describe('TailReads', () => {
  it('answers the requests of one turn at one position with one read', async () => {
    const asked: string[] = [];
    const reads = new TailReads(async (root, after) => {
      asked.push(`${root}@${after.xid}:${after.id}`);
      return page;
    });
    const at = { xid: 3n, id: 7n };
    const answers = await Promise.all([
      reads.get('r', at, 200),
      reads.get('r', at, 200),
      reads.get('r', { xid: 3n, id: 8n }, 200),
    ]);
    expect(answers).toEqual([page, page, page]);
    expect(asked).toEqual(['r@3:7', 'r@3:8']);
  });

  it('never lets a request join a read that started before it', async () => {
    const finishers: Array<() => void> = [];
    const reads = new TailReads(async () => {
      await new Promise<void>((resolve) => finishers.push(resolve));
      return page;
    });
    const at = { xid: 1n, id: 1n };
    const first = reads.get('r', at, 10);
    while (reads.readsStarted === 0) await new Promise((resolve) => setImmediate(resolve));
    const second = reads.get('r', at, 10);
    while (reads.readsStarted === 1) await new Promise((resolve) => setImmediate(resolve));
    expect(finishers).toHaveLength(2);
    for (const finish of finishers) finish();
    expect(await Promise.all([first, second])).toEqual([page, page]);
  });

  it('passes a failed read to its requests and reads again for the next', async () => {
    let attempts = 0;
    const reads = new TailReads(async () => {
      attempts += 1;
      if (attempts === 1) throw new Error('database away');
      return page;
    });
    await expect(reads.get('r', { xid: 1n, id: 1n }, 10)).rejects.toThrow('database away');
    expect(await reads.get('r', { xid: 1n, id: 1n }, 10)).toBe(page);
    expect(attempts).toBe(2);
  });
});
