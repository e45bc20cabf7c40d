import { z } from 'zod';

const TRUE_WORDS = new Set(['true', '1']);
const FALSE_WORDS = new Set(['false', '0']);
/** A refused value is quoted up to this many characters, so an error never echoes a whole body. */
const QUOTED_CHARS = 40;

/**
 * A boolean as HTTP clients send one: a JSON `true`/`false`, the numbers `1`/`0`, or the words
 * `true`, `false`, `1`, `0` in any case (Python's `requests` encodes `params={'incremental': True}`
 * as `incremental=True`). Undefined for anything else.
 */
export function parseBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value !== 'string') return undefined;
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return undefined;
}

/** How a refused value is named in the error: quoted and cut short when text, else its JSON type. */
function shown(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > QUOTED_CHARS ? `${value.slice(0, QUOTED_CHARS)}...` : value);
  if (Array.isArray(value)) return 'a list (give the parameter once)';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * A boolean query-string or JSON-body field of every route (see {@link parseBoolean}); any other
 * value is an issue naming it: `must be true or false (also True, False, 1 or 0), not "yes"`.
 */
export const QueryBooleanSchema = z.unknown().transform((value, ctx): boolean => {
  const parsed = parseBoolean(value);
  if (parsed !== undefined) return parsed;
  ctx.addIssue({
    code: 'custom',
    message: `must be true or false (also True, False, 1 or 0, in any case), not ${shown(value)}`,
  });
  return z.NEVER;
});
