import { BadInputError } from '../platform/errors.js';

/**
 * Gift card numbers and PINs, pure. A code is 18 random digits and a Luhn check digit: 10^18 codes (about
 * 60 bits), so guessing one that exists is hopeless even before the PIN, and the check digit catches a
 * mistyped digit or a swap of two neighbours at the till. A PIN is 6 random digits; five wrong ones in a
 * row lock the card, so a guesser holding the code has five chances in a million.
 */
export const CODE_LENGTH = 19;
export const PIN_LENGTH = 6;
export const FAILED_ATTEMPTS_MAX = 5;

/** The Luhn check digit for `payload` (digits only). */
export function luhnCheckDigit(payload: string): number {
  let sum = 0;
  // Counting from the right of the payload, every first digit is doubled (it becomes every second one
  // once the check digit is appended).
  for (let index = 0; index < payload.length; index++) {
    let digit = payload.charCodeAt(payload.length - 1 - index) - 48;
    if (index % 2 === 0) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return (10 - (sum % 10)) % 10;
}

export function isLuhnValid(code: string): boolean {
  return /^[0-9]{2,}$/.test(code) && luhnCheckDigit(code.slice(0, -1)) === Number(code.slice(-1));
}

/** A new code from a source of random digits (0-9 each). */
export function generateCode(randomDigit: () => number): string {
  let payload = '';
  for (let index = 0; index < CODE_LENGTH - 1; index++) payload += String(randomDigit());
  return payload + String(luhnCheckDigit(payload));
}

export function generatePin(randomDigit: () => number): string {
  let pin = '';
  for (let index = 0; index < PIN_LENGTH; index++) pin += String(randomDigit());
  return pin;
}

/**
 * A code as typed at a till: spaces and dashes between groups are allowed. Only the shape is judged here,
 * which says nothing about any card; a wrong check digit is answered like an unknown code, by the caller.
 */
export function normalizeCode(typed: string): string {
  const code = typed.length <= 64 ? typed.replace(/[ -]/g, '') : typed;
  if (!/^[0-9]+$/.test(code) || code.length !== CODE_LENGTH)
    throw new BadInputError(
      `code must be the card's ${CODE_LENGTH} digits (spaces and dashes between groups are allowed)`,
    );
  return code;
}

export function requirePinShape(pin: string): string {
  if (!/^[0-9]{4,12}$/.test(pin)) throw new BadInputError('pin must be 4 to 12 digits');
  return pin;
}

export function last4Of(code: string): string {
  return code.slice(-4);
}

/** What a replay of issueGiftCard shows instead of the code: the last four digits, the rest masked. */
export function maskedCode(last4: string): string {
  return '*'.repeat(CODE_LENGTH - 4) + last4;
}

export const MASKED_PIN = '*'.repeat(PIN_LENGTH);

/** Groups of four for people to read: "1234 5678 9012 3456 789". */
export function groupedCode(code: string): string {
  return code.replace(/(.{4})(?=.)/g, '$1 ');
}
