import { Option } from '@commander-js/extra-typings';
import type { ConflictPolicy, ExtraColumnsPolicy } from '../../storage/ingest';
import { JSON_HELP, type CommandContext, type Program } from '../program';

/** Listed here, not imported: the help must not load DuckDB. */
const CONFLICT_POLICIES: readonly ConflictPolicy[] = ['reject', 'first', 'last'];
const EXTRA_COLUMNS_POLICIES: readonly ExtraColumnsPolicy[] = ['reject', 'drop'];

/** `retrain ingest|stats|import-buffer|monitor`: a model's data, what the buffer holds and how it serves live. */
export function registerData(program: Program, { out, run }: CommandContext): void {
  program
    .command('ingest')
    .description("add metrics files to a model's data buffer, all or nothing")
    .argument('<files...>', '.csv, .parquet, .jsonl or .ndjson files')
    .requiredOption('--model <m>', 'the model the rows belong to')
    .addOption(
      new Option(
        '--on-conflict <policy>',
        'rows of the batch with the same time and entity but other values: reject the batch, or keep the first or last',
      )
        .choices(CONFLICT_POLICIES)
        .default('reject' as const),
    )
    .addOption(
      new Option('--extra-columns <policy>', 'columns the spec does not name: reject the batch, or drop them')
        .choices(EXTRA_COLUMNS_POLICIES)
        .default('reject' as const),
    )
    .option('--json', JSON_HELP)
    .action((files, opts, command) =>
      run(command, async (config) =>
        (await import('../commands/ingest.js')).ingestCommand(files, opts, config, out),
      ),
    );
  program
    .command('stats')
    .description("what a model's buffer holds and whether a run would get enough data")
    .requiredOption('--model <m>', 'the model')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await import('../commands/stats.js')).statsCommand(opts, config, out)),
    );
  program
    .command('import-buffer')
    .description("move a host's local buffer (an earlier release's RETRAIN_BUFFER_DIR) into the store's")
    .option('--from <dir>', 'the local buffer directory (default RETRAIN_BUFFER_DIR)')
    .option('--model <m>', 'only this model (default every model the directory holds)')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) =>
        (await import('../commands/import-buffer.js')).importBufferCommand(opts, config, out),
      ),
    );
  program
    .command('monitor')
    .description("a model's live error per version: logged predictions against the actuals ingested since")
    .requiredOption('--model <m>', 'the model')
    .option('--days <n>', 'the sliding window, in days of target time', '7')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) =>
        (await import('../commands/monitor.js')).monitorCommand(opts, config, out),
      ),
    );
}
