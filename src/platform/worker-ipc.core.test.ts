import {
  CRASH_LOOP_CRASHES,
  CRASH_LOOP_WINDOW_MS,
  IPC_TAG,
  IpcTimeoutError,
  isBroadcast,
  isReply,
  isRequest,
  leaseSize,
  PendingRequests,
  planRestart,
  RESTART_DELAY_MS_MAX,
  RESTART_DELAY_MS_MIN,
  WRITE_MARKS_MAX,
  WriteMarks,
} from './worker-ipc.core';

/** Timers a test fires by hand. */
function manualTimers() {
  const due = new Map<number, () => void>();
  let next = 0;
  return {
    timers: {
      set: (callback: () => void) => {
        next += 1;
        due.set(next, callback);
        return next;
      },
      clear: (handle: unknown) => void due.delete(handle as number),
    },
    fireAll: () => {
      for (const [handle, callback] of [...due]) {
        due.delete(handle);
        callback();
      }
    },
    pending: () => due.size,
  };
}

describe('PendingRequests', () => {
  it('numbers each request and settles it with the reply of the same id', async () => {
    const clock = manualTimers();
    const pending = new PendingRequests(1_000, clock.timers);
    const first = pending.open({ kind: 'rateLease', key: 'a', wanted: 1 });
    const second = pending.open({ kind: 'markGet', credential: 'b' });
    expect(first.message).toEqual({ tag: IPC_TAG, id: 1, request: { kind: 'rateLease', key: 'a', wanted: 1 } });
    expect(second.message.id).toBe(2);

    expect(pending.settle({ tag: IPC_TAG, id: 2, ok: true, value: '42' })).toBe(true);
    expect(pending.settle({ tag: IPC_TAG, id: 1, ok: true, value: { granted: 0, retryAfterSeconds: 3 } })).toBe(true);
    await expect(second.reply).resolves.toBe('42');
    await expect(first.reply).resolves.toEqual({ granted: 0, retryAfterSeconds: 3 });
    expect(pending.size).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it('fails a request the primary answers with an error', async () => {
    const pending = new PendingRequests(1_000, manualTimers().timers);
    const { message, reply } = pending.open({ kind: 'metrics' });
    pending.settle({ tag: IPC_TAG, id: message.id, ok: false, error: 'Operation timed out.' });
    await expect(reply).rejects.toThrow('Operation timed out.');
  });

  it('fails a request after its timeout, and ignores a reply that comes later', async () => {
    const clock = manualTimers();
    const pending = new PendingRequests(1_000, clock.timers);
    const { message, reply } = pending.open({ kind: 'rateLease', key: 'a', wanted: 1 }, 250);
    clock.fireAll();
    await expect(reply).rejects.toBeInstanceOf(IpcTimeoutError);
    await expect(reply).rejects.toThrow('did not answer rateLease within 250 ms');
    expect(pending.settle({ tag: IPC_TAG, id: message.id, ok: true, value: null })).toBe(false);
  });

  it('fails everything still waiting when the channel closes', async () => {
    const clock = manualTimers();
    const pending = new PendingRequests(1_000, clock.timers);
    const replies = [pending.open({ kind: 'setup' }).reply, pending.open({ kind: 'metrics' }).reply];
    pending.failAll(new Error('the primary process is gone'));
    for (const reply of replies) await expect(reply).rejects.toThrow('the primary process is gone');
    expect(pending.size).toBe(0);
    expect(clock.pending()).toBe(0);
  });
});

describe('message shapes', () => {
  it("tells this protocol's requests, replies and broadcasts from other messages on the channel", () => {
    expect(isRequest({ tag: IPC_TAG, id: 1, request: { kind: 'setup' } })).toBe(true);
    expect(isReply({ tag: IPC_TAG, id: 1, ok: true, value: null })).toBe(true);
    expect(isBroadcast({ tag: IPC_TAG, channel: 'events', broadcast: ['{"v":1}'] })).toBe(true);
    expect(isBroadcast({ tag: IPC_TAG, broadcast: ['{"v":1}'] })).toBe(false);
    // prom-client's own aggregation messages and node's cluster messages share the channel.
    expect(isRequest({ type: 'prom-client:getMetricsReq', requestId: 1 })).toBe(false);
    expect(isReply({ cmd: 'NODE_CLUSTER', act: 'online' })).toBe(false);
    expect(isRequest({ tag: IPC_TAG, id: '1', request: { kind: 'setup' } })).toBe(false);
    expect(isBroadcast({ tag: IPC_TAG, channel: 'events', broadcast: [1] })).toBe(false);
    expect(isRequest(null)).toBe(false);
  });
});

describe('planRestart', () => {
  it('restarts after a short delay, twice as long for each crash of the last minute', () => {
    let crashes: number[] = [];
    const delays: number[] = [];
    for (let i = 0; i < CRASH_LOOP_CRASHES - 1; i += 1) {
      const plan = planRestart(crashes, 1_000 * i);
      if (plan.giveUp) throw new Error('gave up too soon');
      delays.push(plan.delayMs);
      crashes = plan.recentCrashes;
    }
    expect(delays).toEqual([1, 2, 4, 8].map((factor) => Math.min(RESTART_DELAY_MS_MAX, RESTART_DELAY_MS_MIN * factor)));
  });

  it('gives up on a crash loop', () => {
    const crashes = Array.from({ length: CRASH_LOOP_CRASHES - 1 }, (_, i) => i * 1_000);
    expect(planRestart(crashes, 10_000)).toEqual({ giveUp: true, recentCrashes: [...crashes, 10_000] });
  });

  it('forgets crashes older than the window', () => {
    const old = Array.from({ length: CRASH_LOOP_CRASHES - 1 }, (_, i) => i * 1_000);
    const plan = planRestart(old, CRASH_LOOP_WINDOW_MS + 10_000);
    expect(plan).toEqual({
      giveUp: false,
      delayMs: RESTART_DELAY_MS_MIN,
      recentCrashes: [CRASH_LOOP_WINDOW_MS + 10_000],
    });
  });
});

describe('WriteMarks', () => {
  it('keeps the larger LSN for as long as it asked, as the Redis script does', () => {
    let now = 0;
    const marks = new WriteMarks(() => now);
    marks.record('key', 100n, 1_000);
    marks.record('key', 50n, 5_000);
    expect(marks.get('key')).toBe(100n);
    now = 999;
    expect(marks.get('key')).toBe(100n);
    now = 1_000;
    // The smaller mark did not extend the larger one, and lapsed with it.
    expect(marks.get('key')).toBeUndefined();
    marks.record('key', 50n, 1_000);
    expect(marks.get('key')).toBe(50n);
    marks.record('key', 70n, 10);
    expect(marks.get('key')).toBe(70n);
    expect(marks.get('other')).toBeUndefined();
  });

  it('forgets the oldest marks past its bound', () => {
    const marks = new WriteMarks(() => 0);
    for (let i = 0; i <= WRITE_MARKS_MAX; i += 1) marks.record(`key-${i}`, 1n, 60_000);
    expect(marks.get('key-0')).toBeUndefined();
    expect(marks.get('key-1')).toBe(1n);
    expect(marks.get(`key-${WRITE_MARKS_MAX}`)).toBe(1n);
  });
});

describe('leaseSize', () => {
  it('is 50 ms of the rate, bounded by a share of the burst, and never below one', () => {
    expect(leaseSize(5_000, 10_000, 2)).toBe(250);
    expect(leaseSize(5_000, 400, 2)).toBe(100);
    expect(leaseSize(1, 3, 2)).toBe(1);
    expect(leaseSize(1_000_000, 10_000_000, 64)).toBe(50_000);
  });
});
