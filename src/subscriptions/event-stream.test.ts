import { EventStream, PendingBudget } from './event-stream';

const identity = async (item: number) => [item];

describe('EventStream', () => {
  it('yields pushed items in order, mapped, skipping those mapped to nothing', async () => {
    const stream = new EventStream<number, string>(new PendingBudget(10), () => undefined, async (item) => (item % 2 === 0 ? [] : [`#${item}`, `#${item}'`]));
    for (const item of [1, 2, 3]) stream.push(item);
    expect([(await stream.next()).value, (await stream.next()).value, (await stream.next()).value, (await stream.next()).value]).toEqual(['#1', "#1'", '#3', "#3'"]);
  });

  it('hands an item to a waiting pull', async () => {
    const stream = new EventStream<number, number>(new PendingBudget(1), () => undefined, identity);
    const pulled = stream.next();
    stream.push(5);
    expect(await pulled).toEqual({ done: false, value: 5 });
  });

  it('overflows, instead of buffering, once the connection\'s budget is spent', () => {
    const budget = new PendingBudget(2);
    let overflows = 0;
    const first = new EventStream<number, number>(budget, () => (overflows += 1), identity);
    const second = new EventStream<number, number>(budget, () => (overflows += 1), identity);
    first.push(1);
    second.push(2);
    expect(overflows).toBe(0);
    second.push(3);
    expect(overflows).toBe(1);
    expect(budget.size).toBe(2);
  });

  it('gives the budget back when items are pulled, or when the stream ends', async () => {
    const budget = new PendingBudget(3);
    const stream = new EventStream<number, number>(budget, () => undefined, identity);
    for (const item of [1, 2, 3]) stream.push(item);
    await stream.next();
    expect(budget.size).toBe(2);
    await stream.return();
    expect(budget.size).toBe(0);
  });

  it('ends a pending pull at once on return, and runs its end listeners once', async () => {
    const stream = new EventStream<number, number>(new PendingBudget(1), () => undefined, identity);
    let ended = 0;
    stream.onEnd(() => (ended += 1));
    const pulled = stream.next();
    await stream.return();
    await stream.return();
    expect(await pulled).toEqual({ done: true, value: undefined });
    expect(ended).toBe(1);
    stream.push(1);
    expect(await stream.next()).toEqual({ done: true, value: undefined });
  });

  it('ends, and lets go of its listener, when mapping fails', async () => {
    const stream = new EventStream<number, number>(new PendingBudget(1), () => undefined, async () => {
      throw new Error('read failed');
    });
    let ended = false;
    stream.onEnd(() => (ended = true));
    stream.push(1);
    await expect(stream.next()).rejects.toThrow('read failed');
    expect(ended).toBe(true);
  });
});
