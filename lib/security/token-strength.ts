// The rule an access token must meet (TUNEBOARD_TOKEN). Guessing is throttled at /login, but a
// token is also the only secret between the network and the machine's GPUs and files, so it must
// be long and varied on its own: about 80 bits from its length and the character classes it uses.

export const MIN_TOKEN_BITS = 80;
export const MIN_TOKEN_LENGTH = 16;
const MIN_DISTINCT = 8;

const CLASSES: Array<[RegExp, number]> = [
  [/[a-z]/, 26],
  [/[A-Z]/, 26],
  [/[0-9]/, 10],
  [/[^a-zA-Z0-9]/, 33],
];

/** Estimated bits: length × log2(size of the character classes used). An upper bound, hence the distinct-character floor. */
export function tokenBits(token: string): number {
  const pool = CLASSES.reduce((n, [re, size]) => (re.test(token) ? n + size : n), 0);
  return pool > 1 ? token.length * Math.log2(pool) : 0;
}

/** Why `token` is too weak, or null when it is strong enough. */
export function tokenWeakness(token: string): string | null {
  if (token.length < MIN_TOKEN_LENGTH) return `must be at least ${MIN_TOKEN_LENGTH} characters`;
  if (/[\s\p{Cc}]/u.test(token)) return "must not contain spaces or control characters";
  if (new Set(token).size < MIN_DISTINCT) return `must use at least ${MIN_DISTINCT} different characters`;
  if (tokenBits(token) < MIN_TOKEN_BITS) {
    return `is too guessable (about ${Math.floor(tokenBits(token))} bits, ${MIN_TOKEN_BITS} needed): make it longer or mix letters, digits and symbols`;
  }
  return null;
}

export const TOKEN_ADVICE = "generate one with: node -e \"console.log(require('crypto').randomBytes(24).toString('base64url'))\"";
