import type { z } from 'zod';

/** One line per issue, `path: message`, for errors that must name what is wrong. */
export function formatIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}
