import { BadInputError } from './errors.js';
import { isUuid } from './ids.js';

/** Input rules shared by every module; each names its limit. */
export const NAME_LENGTH_MAX = 200;

export function requireId(value: string, field: string): string {
  if (!isUuid(value)) throw new BadInputError(`${field} must be an id (a UUID); got ${JSON.stringify(value.slice(0, 60))}`);
  return value.toLowerCase();
}

export function requirePattern(value: string, pattern: RegExp, field: string, rule: string): string {
  if (!pattern.test(value)) throw new BadInputError(`${field} ${rule}; got ${JSON.stringify(value.slice(0, 80))}`);
  return value;
}

export function requireName(value: string, field = 'name'): string {
  const trimmed = value.trim();
  // biome-ignore lint/suspicious/noControlCharactersInRegex: a name with control characters is what this refuses.
  if (trimmed.length === 0 || trimmed.length > NAME_LENGTH_MAX || /[\u0000-\u001f]/.test(trimmed)) {
    throw new BadInputError(`${field} must be 1 to ${NAME_LENGTH_MAX} printable characters`);
  }
  return trimmed;
}
