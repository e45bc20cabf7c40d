import { z } from 'zod';

const UNITS_S = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;
const PATTERN = /^[1-9]\d{0,5}[smhdw]$/;

/** A count and a unit (`5m`, `6h`, `1d`): how specs write steps and intervals. */
export function durationSchema(field: string, examples: string): z.ZodString {
  return z.string().regex(PATTERN, {
    message: `${field} must be a count and a unit: s, m, h, d or w (e.g. ${examples})`,
  });
}

/** A duration (`15m`) in milliseconds. */
export function durationMs(text: string): number {
  const unit = text.slice(-1) as keyof typeof UNITS_S;
  return Number(text.slice(0, -1)) * UNITS_S[unit] * 1000;
}
