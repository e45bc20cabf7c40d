import type { RetrainRequest } from './retrain';

/**
 * The Web UI's texts of a run, whoever starts it (a person, a schedule, a trigger check): the
 * summary line of the runs list and the details above its history.
 */
export function runTexts(
  input: Pick<RetrainRequest, 'model'> & Partial<RetrainRequest>,
  origin: string,
): { staticSummary: string; staticDetails: string } {
  return {
    staticSummary: `Retrain ${input.model} (${origin})`,
    staticDetails: `Retrain **${input.model}** (${origin}): export, train, validate, register, reload.\n\n\`\`\`json\n${JSON.stringify(input, null, 2)}\n\`\`\``,
  };
}
