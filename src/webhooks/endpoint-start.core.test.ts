import { finishedBefore, parseSnapshot } from './endpoint-start.core';

it('reads pg_snapshot text and tells which transactions had finished', () => {
  const snapshot = parseSnapshot('100:105:100,102');
  expect(snapshot).toEqual({ xmin: 100n, xmax: 105n, inProgress: new Set([100n, 102n]) });
  expect([99n, 100n, 101n, 102n, 103n, 104n, 105n, 106n].map((xid) => finishedBefore(snapshot, xid))).toEqual([
    true,
    false,
    true,
    false,
    true,
    true,
    false,
    false,
  ]);
  expect(parseSnapshot('7:7:')).toEqual({ xmin: 7n, xmax: 7n, inProgress: new Set() });
  expect(finishedBefore(parseSnapshot('7:7:'), 7n)).toBe(false);
  expect(() => parseSnapshot('nonsense')).toThrow();
});
