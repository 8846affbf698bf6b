import { sha256 } from '@noble/hashes/sha256';
import { bytesToHex } from '@noble/hashes/utils';

/**
 * Keys longer than this many UTF-16 code units are stored as a hash, so an attacker who controls the
 * key (an `x-api-key` header, a user name) cannot make each tracked key cost kilobytes.
 */
export const MAX_KEY_LENGTH = 128;

/** Marks a hashed key. A literal key that starts with it is hashed too, so the mapping stays injective. */
const HASHED = '~h:';

/**
 * The key a limiter stores state under, identical on every store: the key itself when it is short,
 * well-formed UTF-16 and not marker-prefixed (the common case, no allocation); otherwise `~h:` and
 * the hex SHA-256 of its UTF-16 code units (67 characters). Hashing code units, not
 * UTF-8, keeps keys with lone surrogates distinct: UTF-8 encoding (as Redis clients do) would turn
 * every lone surrogate into U+FFFD and merge unrelated keys into one bucket.
 * @internal
 */
export function storageKey(key: string): string {
  // `~` (126) first: most keys are settled by one char code, without startsWith.
  if (key.length <= MAX_KEY_LENGTH && (key.charCodeAt(0) !== 126 || !key.startsWith(HASHED)) && key.isWellFormed()) return key;
  const bytes = new Uint8Array(key.length * 2);
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i);
    bytes[2 * i] = unit & 0xff;
    bytes[2 * i + 1] = unit >>> 8;
  }
  return HASHED + bytesToHex(sha256(bytes));
}
