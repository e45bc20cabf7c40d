import fs from 'node:fs';
import path from 'node:path';

/**
 * A seed document: the documentation of a system retrain replaces, as its users have it. test/seeds
 * holds verbatim copies of ../shared/seeds (the project's brief), so a clone alone runs the tests.
 */
export function seedFile(name: string): string {
  return path.join(__dirname, '..', 'seeds', name);
}

/**
 * The first fenced code block of `lang` (```bash, ```python) under the heading `heading` (any level) of a
 * seed document, verbatim: what its readers copy. Lines starting with `#` inside fences (shell and
 * Python comments) are not headings. Throws when the heading or the block is missing.
 */
export function seedBlock(file: string, heading: string, lang: string): string {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  let fenced = false;
  let level = 0;
  let block: string[] | undefined;
  for (const line of lines) {
    if (line.startsWith('```')) {
      if (level > 0 && !fenced && line === '```' + lang) block = [];
      else if (block && fenced) return block.join('\n') + '\n';
      fenced = !fenced;
      continue;
    }
    if (block) {
      block.push(line);
      continue;
    }
    const title = fenced ? null : /^(#{1,6}) (.*)$/.exec(line);
    if (!title) continue;
    const depth = (title[1] ?? '').length;
    if (title[2] === heading) level = depth;
    else if (level > 0 && depth <= level) break;
  }
  if (level === 0) throw new Error(`${file} has no "${heading}" heading`);
  throw new Error(`"${heading}" in ${file} has no \`\`\`${lang} block`);
}

/** `code` with each `from` replaced by its `to`, every one of which must occur: the edits a reader makes. */
export function withEdits(code: string, edits: Record<string, string>): string {
  let out = code;
  for (const [from, to] of Object.entries(edits)) {
    if (!out.includes(from)) throw new Error(`the seed's code no longer contains ${JSON.stringify(from)}`);
    out = out.replaceAll(from, to);
  }
  return out;
}
