import { createAccount, createProgram, issue, key } from './support/builders';
import { errorCode, startTestServer, type TestServer } from './support/server';
import { snapshotLedger } from './support/snapshot';

let t: TestServer;
let accountId: string;
beforeAll(async () => {
  t = await startTestServer();
  const { ledgerId } = await createProgram(t);
  accountId = (await createAccount(t, ledgerId)).id;
  await issue(t, accountId, '1000');
});
afterAll(async () => {
  await t.stop();
});

const HOSTILE = [
  '1.5',
  '-5',
  '0',
  '1e3',
  ' 12',
  '',
  '9223372036854775808',
  2.5,
  'abc',
  '12 ',
  '+7',
  '0x1F',
  -1,
  9007199254740992,
  '١٢',
];

describe.each(['variables', 'literal'])('amounts passed as %s', (style) => {
  it.each(HOSTILE.map((amount) => [JSON.stringify(amount), amount]))(
    'refuses %s with BAD_USER_INPUT and writes nothing',
    async (_label, amount) => {
      const before = await snapshotLedger(t.db);
      const response =
        style === 'variables'
          ? await t.gql(`mutation($input: RedeemInput!) { redeem(input: $input) { replayed } }`, {
              input: { accountId, asset: 'PTS', amount, idempotencyKey: key() },
            })
          : await t.gql(
              `mutation { redeem(input: { accountId: "${accountId}", asset: "PTS", amount: ${JSON.stringify(amount)}, idempotencyKey: "${key()}" }) { replayed } }`,
            );
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(await snapshotLedger(t.db)).toEqual(before);
    },
  );
});

it('accepts the largest safe JSON integer and the largest 64-bit string, and refuses a total that would overflow', async () => {
  const { ledgerId } = await createProgram(t);
  const open = await createAccount(t, ledgerId, { allowOverdraft: true });
  const sink = await createAccount(t, ledgerId);
  const TRANSFER = `mutation($input: TransferInput!) { transfer(input: $input) { replayed } }`;
  const max = '9223372036854775807';
  expect(
    (
      await t.gql(TRANSFER, {
        input: { fromAccountId: open.id, toAccountId: sink.id, asset: 'PTS', amount: max, idempotencyKey: key() },
      })
    ).errors,
  ).toBeUndefined();
  const before = await snapshotLedger(t.db);
  expect(
    errorCode(
      await t.gql(TRANSFER, {
        input: { fromAccountId: open.id, toAccountId: sink.id, asset: 'PTS', amount: 1, idempotencyKey: key() },
      }),
    ),
  ).toBe('BAD_USER_INPUT');
  expect(await snapshotLedger(t.db)).toEqual(before);
});
