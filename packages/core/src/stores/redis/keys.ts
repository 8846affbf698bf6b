/**
 * Key layout (see docs/redis.md): `<store prefix><limiter prefix><rule id>:{<key>}` per rule, plus
 * `…:{<key>}:b` for a `blockFor` deadline. The user key is the Redis Cluster hash tag, so every key
 * of one decision hashes to the same slot (no CROSSSLOT) whatever the rules.
 */

/**
 * The hash-tag content for a user key. A tag ends at the first `}`, and an empty tag makes Redis hash
 * the whole key name (which differs per rule), so `}` and `%` are percent-encoded and the empty key
 * becomes `%` (which no encoded key can be): injective, and the identity for ordinary keys.
 * @internal
 */
export function hashTag(key: string): string {
  if (key === '') return '%';
  if (key.indexOf('}') === -1 && key.indexOf('%') === -1) return key;
  return key.replace(/%/g, '%25').replace(/\}/g, '%7D');
}

/** Escapes SCAN MATCH glob characters. @internal */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
