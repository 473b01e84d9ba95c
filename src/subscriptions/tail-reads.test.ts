import type { TailRead } from './feed-tail.repository';
import { TailReads } from './tail-reads';

const page: TailRead = { rows: [], xmin: 5n, xmax: 6n };

describe('TailReads', () => {
  it('answers subscribers at one position with one read, and reads again once it has settled', async () => {
    const asked: string[] = [];
    const finishers: Array<() => void> = [];
    const finishAll = () => {
      for (const finish of finishers.splice(0)) finish();
    };
    const reads = new TailReads(async (root, after) => {
      asked.push(`${root}@${after.xid}:${after.id}`);
      await new Promise<void>((resolve) => finishers.push(resolve));
      return page;
    });
    const at = { xid: 3n, id: 7n };
    const waiting = [reads.get('r', at, 200), reads.get('r', at, 200), reads.get('r', { xid: 3n, id: 8n }, 200)];
    expect(asked).toEqual(['r@3:7', 'r@3:8']);
    finishAll();
    expect(await Promise.all(waiting)).toEqual([page, page, page]);
    expect(reads.size).toBe(0);
    const again = reads.get('r', at, 200);
    expect(asked).toHaveLength(3);
    finishAll();
    await again;
  });

  it('forgets a failed read, so the next subscriber tries again', async () => {
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
