import { isLuhnValid } from '../src/giftcards/giftcard.core';
import { createAsset, createLedger, key } from './support/builders';
import { errorCode, ok, startTestServer, type TestServer } from './support/server';

let t: TestServer;
const logLines: string[] = [];
beforeAll(async () => {
  t = await startTestServer({ logLines });
});
afterAll(async () => {
  await t.stop();
});

const ISSUE_CARD = `mutation($input: IssueGiftCardInput!) { issueGiftCard(input: $input) {
  code pin replayed card { id last4 status expiresAt account { id code } asset { code } } transaction { id kind }
} }`;
const BALANCE = `query($code: String!, $pin: String!) { giftCardBalance(code: $code, pin: $pin) { posted available } }`;
const REDEEM_CARD = `mutation($input: RedeemGiftCardInput!) { redeemGiftCard(input: $input) { replayed transaction { id kind } } }`;
const CARD = `query($id: ID!) { giftCard(id: $id) { status } }`;
const UNLOCK = `mutation($id: ID!) { unlockGiftCard(id: $id) { id status } }`;

interface Issued {
  code: string;
  pin: string;
  replayed: boolean;
  card: { id: string; last4: string; status: string; account: { id: string } };
  transaction: { id: string; kind: string };
}

async function program(): Promise<string> {
  const ledger = await createLedger(t);
  await createAsset(t, ledger.id, 'GIFT', 2);
  return ledger.id;
}

async function issueCard(ledgerId: string, amount = '10000', extra: Record<string, unknown> = {}): Promise<Issued> {
  return ok(
    await t.gql(ISSUE_CARD, { input: { ledgerId, asset: 'GIFT', amount, idempotencyKey: key('card'), ...extra } }),
  ).issueGiftCard;
}

const balance = (code: string, pin: string, secret?: string) => t.gql(BALANCE, { code, pin }, secret);
const redeem = (code: string, pin: string, amount: string, idempotencyKey = key('redeem')) =>
  t.gql(REDEEM_CARD, { input: { code, pin, amount, idempotencyKey } });
const wrongPinOf = (pin: string) => String((Number(pin) + 1) % 1_000_000).padStart(6, '0');

/** A code of the right shape and check digit that no card has: the card's own, one digit pair changed. */
function otherCodeOf(code: string): string {
  for (let digit = 0; digit <= 9; digit++) {
    for (let check = 0; check <= 9; check++) {
      const candidate = `${code.slice(0, 5)}${digit}${code.slice(6, 18)}${check}`;
      if (candidate !== code && isLuhnValid(candidate)) return candidate;
    }
  }
  throw new Error('unreachable');
}

describe('issueGiftCard', () => {
  it('creates a card with a 19-digit Luhn code and a 6-digit PIN, stored only as hashes', async () => {
    const ledgerId = await program();
    const issued = await issueCard(ledgerId, '2500');
    expect(issued.code).toMatch(/^[0-9]{19}$/);
    expect(isLuhnValid(issued.code)).toBe(true);
    expect(issued.pin).toMatch(/^[0-9]{6}$/);
    expect(issued).toMatchObject({ replayed: false, transaction: { kind: 'ISSUE' } });
    expect(issued.card).toMatchObject({ last4: issued.code.slice(-4), status: 'ACTIVE', expiresAt: null });
    expect(ok(await balance(issued.code, issued.pin)).giftCardBalance).toEqual({ posted: '2500', available: '2500' });
    const { rows } = await t.db.pool.query(
      `SELECT encode(code_digest, 'hex') AS digest, pin_hash, last4 FROM gift_cards WHERE id = $1`,
      [issued.card.id],
    );
    expect(rows[0].digest).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0].pin_hash).toMatch(/^scrypt\$/);
    expect(JSON.stringify(rows[0])).not.toContain(issued.code);
    expect(JSON.stringify(rows[0])).not.toContain(issued.pin);
  });

  it('answers a repeated key with the same card, its code and PIN masked, and refuses a changed request', async () => {
    const ledgerId = await program();
    const idempotencyKey = key('card');
    const input = { ledgerId, asset: 'GIFT', amount: '500', idempotencyKey };
    const first: Issued = ok(await t.gql(ISSUE_CARD, { input })).issueGiftCard;
    const again: Issued = ok(await t.gql(ISSUE_CARD, { input })).issueGiftCard;
    expect(again).toMatchObject({
      replayed: true,
      code: `${'*'.repeat(15)}${first.code.slice(-4)}`,
      pin: '******',
      card: { id: first.card.id },
      transaction: { id: first.transaction.id },
    });
    expect(errorCode(await t.gql(ISSUE_CARD, { input: { ...input, amount: '501' } }))).toBe('IDEMPOTENCY_CONFLICT');
    expect(ok(await balance(first.code, first.pin)).giftCardBalance.posted).toBe('500');
  });

  it('makes one card of concurrent requests with one key', async () => {
    const ledgerId = await program();
    const input = { ledgerId, asset: 'GIFT', amount: '700', idempotencyKey: key('card') };
    const results: Issued[] = (await Promise.all(Array.from({ length: 5 }, () => t.gql(ISSUE_CARD, { input })))).map(
      (response) => ok(response).issueGiftCard,
    );
    expect(new Set(results.map((result) => result.card.id)).size).toBe(1);
    expect(results.filter((result) => !result.replayed)).toHaveLength(1);
    const { rows } = await t.db.pool.query('SELECT count(*)::int AS n FROM gift_cards WHERE root_ledger_id = $1', [
      ledgerId,
    ]);
    expect(rows[0].n).toBe(1);
  });

  it('refuses an expiry in the past, a non-positive amount and an unknown asset', async () => {
    const ledgerId = await program();
    const input = { ledgerId, asset: 'GIFT', amount: '1', idempotencyKey: key('card') };
    expect(errorCode(await t.gql(ISSUE_CARD, { input: { ...input, expiresAt: '2020-01-01T00:00:00Z' } }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await t.gql(ISSUE_CARD, { input: { ...input, amount: '0' } }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await t.gql(ISSUE_CARD, { input: { ...input, asset: 'NOPE' } }))).toBe('ASSET_NOT_FOUND');
  });
});

describe('redeemGiftCard', () => {
  it('takes part of the balance, then the rest, then refuses more; a replay answers with the original', async () => {
    const ledgerId = await program();
    const { code, pin } = await issueCard(ledgerId, '10000');
    const idempotencyKey = key('redeem');
    const first = ok(await redeem(code, pin, '3000', idempotencyKey)).redeemGiftCard;
    expect(first).toMatchObject({ replayed: false, transaction: { kind: 'REDEEM' } });
    const again = ok(await redeem(code, pin, '3000', idempotencyKey)).redeemGiftCard;
    expect(again).toMatchObject({ replayed: true, transaction: { id: first.transaction.id } });
    expect(ok(await balance(code, pin)).giftCardBalance.posted).toBe('7000');
    // A till may type the code in groups.
    const grouped = code.replace(/(.{4})(?=.)/g, '$1 ');
    ok(await redeem(grouped, pin, '7000'));
    expect(ok(await balance(code, pin)).giftCardBalance.posted).toBe('0');
    expect(errorCode(await redeem(code, pin, '1'))).toBe('INSUFFICIENT_FUNDS');
  });

  it('lets concurrent redemptions take no more than the card holds', async () => {
    const ledgerId = await program();
    const { code, pin, card } = await issueCard(ledgerId, '100');
    const results = await Promise.all(Array.from({ length: 8 }, () => redeem(code, pin, '30')));
    const outcomes = results.map((response) => (response.errors ? errorCode(response) : 'OK'));
    expect(outcomes.filter((outcome) => outcome === 'OK')).toHaveLength(3);
    expect(outcomes.filter((outcome) => outcome === 'INSUFFICIENT_FUNDS')).toHaveLength(5);
    expect(ok(await balance(code, pin)).giftCardBalance.posted).toBe('10');
    expect(ok(await t.gql(CARD, { id: card.id })).giftCard.status).toBe('ACTIVE');
  });

  it('answers a wrong code and a wrong PIN with the same code and message', async () => {
    const ledgerId = await program();
    const { code, pin } = await issueCard(ledgerId);
    const wrongPin = await balance(code, wrongPinOf(pin));
    const wrongCode = await balance(otherCodeOf(code), pin);
    const badCheckDigit = await balance(`${code.slice(0, 18)}${(Number(code[18]) + 1) % 10}`, pin);
    const redeemWrongPin = await redeem(code, wrongPinOf(pin), '1');
    const redeemWrongCode = await redeem(otherCodeOf(code), pin, '1');
    for (const response of [wrongPin, wrongCode, badCheckDigit, redeemWrongPin, redeemWrongCode]) {
      expect(response.errors![0]!.extensions.code).toBe('NOT_FOUND');
      expect(response.errors![0]!.message).toBe('no gift card matches this code and PIN');
    }
    expect(ok(await balance(code, pin)).giftCardBalance.posted).toBe('10000');
  });

  it('does the same database work for a wrong code as for a wrong PIN', async () => {
    const ledgerId = await program();
    const { code, pin } = await issueCard(ledgerId);
    const statementsOf = async (request: () => Promise<unknown>) => {
      const before = t.db.statementCount();
      await request();
      return t.db.statementCount() - before;
    };
    // Warm the process-wide caches (the card's ledger placement) as a till's steady state has them.
    await balance(code, wrongPinOf(pin));
    const wrongPin = await statementsOf(() => balance(code, wrongPinOf(pin)));
    const wrongCode = await statementsOf(() => balance(otherCodeOf(code), pin));
    expect(wrongPin).toBeGreaterThanOrEqual(2);
    expect(wrongCode).toBe(wrongPin);
    ok(await balance(code, pin));
  });

  it('counts exactly five of many concurrent wrong PINs, then refuses even the right PIN until an ADMIN unlocks', async () => {
    const ledgerId = await program();
    const { code, pin, card } = await issueCard(ledgerId);
    const wrong = await Promise.all(Array.from({ length: 12 }, () => balance(code, wrongPinOf(pin))));
    const codes = wrong.map(errorCode);
    expect(codes.filter((value) => value === 'NOT_FOUND')).toHaveLength(5);
    expect(codes.filter((value) => value === 'GIFT_CARD_LOCKED')).toHaveLength(7);
    const { rows } = await t.db.pool.query('SELECT status, failed_attempts FROM gift_cards WHERE id = $1', [card.id]);
    expect(rows[0]).toEqual({ status: 'LOCKED', failed_attempts: 5 });

    expect(errorCode(await balance(code, pin))).toBe('GIFT_CARD_LOCKED');
    expect(errorCode(await redeem(code, pin, '1'))).toBe('GIFT_CARD_LOCKED');
    expect(ok(await t.gql(CARD, { id: card.id })).giftCard.status).toBe('LOCKED');

    const operator = ok(
      await t.gql(
        `mutation($l: ID!) { createApiKey(input: { name: "till", role: OPERATOR, ledgerId: $l }) { secret } }`,
        {
          l: ledgerId,
        },
      ),
    ).createApiKey.secret;
    expect(errorCode(await t.gql(UNLOCK, { id: card.id }, operator))).toBe('FORBIDDEN');
    expect(ok(await t.gql(UNLOCK, { id: card.id })).unlockGiftCard.status).toBe('ACTIVE');
    expect(ok(await balance(code, pin, operator)).giftCardBalance.posted).toBe('10000');
    ok(await t.gql(REDEEM_CARD, { input: { code, pin, amount: '1', idempotencyKey: key() } }, operator));
  });

  it('locks only after five wrong PINs in a row: a right PIN starts the count again', async () => {
    const ledgerId = await program();
    const { code, pin, card } = await issueCard(ledgerId);
    for (let attempt = 0; attempt < 4; attempt++)
      expect(errorCode(await balance(code, wrongPinOf(pin)))).toBe('NOT_FOUND');
    ok(await balance(code, pin));
    for (let attempt = 0; attempt < 4; attempt++)
      expect(errorCode(await balance(code, wrongPinOf(pin)))).toBe('NOT_FOUND');
    expect(ok(await t.gql(CARD, { id: card.id })).giftCard.status).toBe('ACTIVE');
    expect(errorCode(await balance(code, wrongPinOf(pin)))).toBe('NOT_FOUND');
    expect(ok(await t.gql(CARD, { id: card.id })).giftCard.status).toBe('LOCKED');
  });

  it('refuses an expired card with GIFT_CARD_EXPIRED, but only to the right PIN', async () => {
    const ledgerId = await program();
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const { code, pin, card } = await issueCard(ledgerId, '100', { expiresAt });
    expect(card).toMatchObject({ expiresAt });
    ok(await redeem(code, pin, '40'));
    // The card's date passes: moved in the database rather than waited for.
    await t.db.pool.query(`UPDATE gift_cards SET expires_at = now() - interval '1 second' WHERE id = $1`, [card.id]);
    expect(errorCode(await redeem(code, pin, '10'))).toBe('GIFT_CARD_EXPIRED');
    expect(errorCode(await balance(code, pin))).toBe('GIFT_CARD_EXPIRED');
    expect(errorCode(await balance(code, wrongPinOf(pin)))).toBe('NOT_FOUND');
    const { rows } = await t.db.pool.query(
      `SELECT b.credits_posted - b.debits_posted AS posted FROM balances b WHERE b.account_id = $1`,
      [card.account.id],
    );
    expect(rows[0].posted).toBe('60');
  });

  it('tells a key of another tree nothing: its card is answered as unknown', async () => {
    const ledgerId = await program();
    const { code, pin } = await issueCard(ledgerId);
    const otherLedger = await program();
    const stranger = ok(
      await t.gql(
        `mutation($l: ID!) { createApiKey(input: { name: "other till", role: OPERATOR, ledgerId: $l }) { secret } }`,
        {
          l: otherLedger,
        },
      ),
    ).createApiKey.secret;
    const response = await balance(code, pin, stranger);
    expect(errorCode(response)).toBe('NOT_FOUND');
    expect(response.errors![0]!.message).toBe('no gift card matches this code and PIN');
  });

  it('refuses a code or PIN of the wrong shape with BAD_USER_INPUT', async () => {
    expect(errorCode(await balance('1234', '123456'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await balance('1234567890123456789', '12'))).toBe('BAD_USER_INPUT');
  });
});

describe('card numbers', () => {
  it('never appear in logs, audit events or journal rows: the audit names cards by id', async () => {
    const ledgerId = await program();
    const { code, pin, card } = await issueCard(ledgerId, '900');
    ok(await redeem(code, pin, '100'));
    await balance(code, wrongPinOf(pin));
    ok(await t.gql(UNLOCK, { id: card.id }));
    for (const table of ['audit_events', 'accounts', 'transactions', 'entries', 'gift_cards', 'ledger_events']) {
      const { rows } = await t.db.pool.query(
        `SELECT count(*)::int AS n FROM ${table} r WHERE r::text LIKE $1 OR r::text LIKE $2`,
        [`%${code}%`, `%${code.slice(0, 8)}%`],
      );
      expect({ table, n: rows[0].n }).toEqual({ table, n: 0 });
    }
    const text = logLines.join('\n');
    expect(text).not.toContain(code);
    expect(text).not.toContain(code.slice(0, 8));
    const { rows } = await t.db.pool.query(
      `SELECT operation, target_ids::text[] AS targets FROM audit_events WHERE $1 = ANY(target_ids) ORDER BY id`,
      [card.id],
    );
    expect(rows.map((row) => row.operation)).toEqual(['issueGiftCard', 'unlockGiftCard']);
  });
});

describe('a server without GIFT_CARD_KEY', () => {
  it('refuses every gift card operation with FORBIDDEN, naming the setting', async () => {
    const off = await startTestServer({ giftCardKey: null });
    try {
      const ledger = await createLedger(off);
      await createAsset(off, ledger.id, 'GIFT', 2);
      const issued = await off.gql(ISSUE_CARD, {
        input: { ledgerId: ledger.id, asset: 'GIFT', amount: '1', idempotencyKey: key() },
      });
      expect(errorCode(issued)).toBe('FORBIDDEN');
      expect(issued.errors![0]!.message).toMatch(/GIFT_CARD_KEY/);
      expect(errorCode(await off.gql(BALANCE, { code: '1234567890123456789', pin: '123456' }))).toBe('FORBIDDEN');
    } finally {
      await off.stop();
    }
  });
});
