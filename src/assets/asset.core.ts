import { AssetNotFoundError } from '../platform/errors.js';

/**
 * ASSET_NOT_FOUND for a code no asset of the tree has. Codes are only `A–Z 0–9 _`, so a code with lower
 * case letters can never match: the refusal says so, with the code as it would have to be written.
 */
export function assetNotFound(code: string): AssetNotFoundError {
  const upper = code.toUpperCase();
  const hint =
    upper !== code && /^[A-Z0-9_]+$/.test(upper) ? ` (asset codes are upper case: ${upper}, not ${code})` : '';
  return new AssetNotFoundError(`asset ${code} is not defined in this ledger tree${hint}`);
}
