import { z } from 'zod';
import { PYTHON_KINDS, pythonKindIssues, trainerOf, type PythonKind, type Trainer } from './trainer-kinds';

/**
 * How the trials of a multi-trial run get their hyperparameters: `random` draws trials 2..n up front
 * from the spec's seed (the behaviour of every spec written before strategies); `tpe` runs the trials
 * one after another and asks Optuna's TPE (the python worker's `suggestTrial`) for each next one from
 * the trial log so far.
 */
export const SearchStrategySchema = z.enum(['random', 'tpe']);
export type SearchStrategy = z.infer<typeof SearchStrategySchema>;

/** A python kind parameter drawn from a range: integers or reals from `min` to `max`, log-scaled or not. */
export const ParamRangeSchema = z
  .object({
    type: z.enum(['int', 'float']),
    min: z.number().finite(),
    max: z.number().finite(),
    /** Drawn uniformly in log space (learning rates, regularisation): `min` must be above 0. */
    log: z.boolean().optional(),
  })
  .strict()
  .superRefine((range, ctx) => {
    if (range.min > range.max)
      ctx.addIssue({ code: 'custom', path: ['max'], message: 'min must not be above max' });
    if (range.log && range.min <= 0)
      ctx.addIssue({ code: 'custom', path: ['min'], message: 'a log-scaled range needs min above 0' });
    for (const bound of ['min', 'max'] as const)
      if (range.type === 'int' && !Number.isInteger(range[bound]))
        ctx.addIssue({ code: 'custom', path: [bound], message: 'an int range needs integer bounds' });
  });
export type ParamRange = z.infer<typeof ParamRangeSchema>;

/** A python kind parameter drawn from a list of values (JSON: `"hist"`, `3`, `[64, 64]`). */
export const ParamChoicesSchema = z.array(z.json()).min(1).max(64);

/** Per parameter of the kind (`hyperparams.params`), a range or a list of choices. */
export const SearchParamsSchema = z.record(
  z.string().min(1).max(64),
  z.union([ParamRangeSchema, ParamChoicesSchema]),
);
export type SearchParams = z.infer<typeof SearchParamsSchema>;

/** One problem with `search.params`, its path from the spec's root. */
export interface SearchParamsIssue {
  path: (string | number)[];
  message: string;
}

interface SearchingSpec {
  task: string;
  trainer?: Trainer | undefined;
  hyperparams: { architecture: string; params?: Record<string, unknown> | undefined };
  search?: { params?: SearchParams | undefined; architecture?: string[] | undefined } | undefined;
}

/**
 * Why `search.params` cannot be searched: it is for the python trainer, and each range bound and
 * choice must be a value every searched kind (the spec's architecture and `search.architecture`'s)
 * takes for that parameter, an int parameter searched by an int range. User trainers' parameters
 * (kinds the TypeScript side does not know) are checked by their types only, here, and by the worker.
 */
export function searchParamsIssues(spec: SearchingSpec): SearchParamsIssue[] {
  const params = spec.search?.params;
  if (params === undefined) return [];
  if (trainerOf(spec) !== 'python')
    return [
      { path: ['search', 'params'], message: 'params are for python trainer kinds ("trainer": "python")' },
    ];
  const kinds = [...new Set([spec.hyperparams.architecture, ...(spec.search?.architecture ?? [])])];
  const issues: SearchParamsIssue[] = [];
  for (const [name, searched] of Object.entries(params)) {
    const values: [string | number, unknown][] = Array.isArray(searched)
      ? searched.map((choice, i) => [i, choice])
      : [
          ['min', searched.min],
          ['max', searched.max],
        ];
    for (const architecture of kinds) {
      const issue = kindIssue(spec, architecture, name, searched, values);
      if (issue) issues.push({ path: ['search', 'params', name, ...issue.path], message: issue.message });
    }
  }
  return issues;
}

function kindIssue(
  spec: SearchingSpec,
  architecture: string,
  name: string,
  searched: ParamRange | z.infer<typeof ParamChoicesSchema>,
  values: [string | number, unknown][],
): SearchParamsIssue | undefined {
  const kind = (PYTHON_KINDS as Record<string, PythonKind>)[architecture];
  if (!kind) return undefined;
  const field = kind.params.shape[name];
  const number = field instanceof z.ZodOptional ? field.unwrap() : field;
  if (!Array.isArray(searched) && searched.type === 'float' && number instanceof z.ZodNumber && number.isInt)
    return { path: ['type'], message: `${architecture} takes whole numbers for ${name}: use type int` };
  for (const [at, value] of values) {
    const found = pythonKindIssues(spec.task, {
      architecture,
      params: { ...spec.hyperparams.params, [name]: value },
    }).find((issue) => issue.path[0] === 'params' && issue.path[1] === name);
    if (found) return { path: [at], message: found.message };
  }
  return undefined;
}
