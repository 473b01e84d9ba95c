import { CoalescedRun } from './coalesced-run';

function gate(): { wait: Promise<void>; open: () => void } {
  const opened: { open?: () => void } = {};
  const wait = new Promise<void>((resolve) => {
    opened.open = resolve;
  });
  return { wait, open: () => opened.open!() };
}

it('runs one pass at a time and folds requests made meanwhile into one more pass', async () => {
  const gates = [gate(), gate()];
  let passes = 0;
  const run = new CoalescedRun(
    async () => {
      await gates[passes++]!.wait;
    },
    () => undefined,
  );
  run.request();
  run.request();
  run.request();
  expect(passes).toBe(1);
  gates[0]!.open();
  await new Promise((resolve) => setImmediate(resolve));
  expect(passes).toBe(2);
  gates[1]!.open();
  await run.settled;
  await new Promise((resolve) => setImmediate(resolve));
  expect(passes).toBe(2);
});

it('reports a failed pass and runs the next one, but none once it is no longer live', async () => {
  const errors: unknown[] = [];
  let live = true;
  let passes = 0;
  const run = new CoalescedRun(
    async () => {
      passes += 1;
      throw new Error(`pass ${passes}`);
    },
    (error) => errors.push(error),
    () => live,
  );
  run.request();
  await run.settled;
  run.request();
  await run.settled;
  expect(errors.map((error) => (error as Error).message)).toEqual(['pass 1', 'pass 2']);
  live = false;
  run.request();
  await run.settled;
  expect(passes).toBe(2);
});
