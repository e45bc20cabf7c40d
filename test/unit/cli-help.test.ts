import { afterEach, describe, expect, it, vi } from 'vitest';
import { version } from '../../package.json';
import { loadConfig } from '../../config/config';
import { cliWith } from '../helpers/run-cli';

const RUN_OPTIONS = [
  '--model <m>',
  '--epochs <n>',
  '--trials <n>',
  '--window-days <n>',
  '--min-records <n>',
  '--no-incremental',
  '--reload-target <url>',
];

/** Every command and subcommand with the options its help must name. */
const COMMANDS: [string, string[]][] = [
  [
    '',
    [
      '--version',
      '--help',
      'start',
      'status',
      'cancel',
      'list',
      'rollback',
      'ingest',
      'stats',
      'monitor',
      'models',
      'triggers',
      'bridge',
      'events',
      'schedule',
    ],
  ],
  ['start', [...RUN_OPTIONS, '--wait', '--json']],
  ['status', ['<workflowId>', '--watch', '--json']],
  ['cancel', ['<workflowId>', '--reason <r>', '--json']],
  ['list', ['--model <m>', '--limit <n>', '--json']],
  ['rollback', ['--model <m>', '--to <version>', '--json']],
  ['ingest', ['<files...>', '--model <m>', '--json']],
  ['stats', ['--model <m>', '--json']],
  ['monitor', ['--model <m>', '--days <n>', '(default: "7")', '--json']],
  ['models', ['create', 'list', 'show']],
  ['models create', ['<spec.json>', '--replace', '--json']],
  ['models list', ['--json']],
  ['models show', ['<model>', '--json']],
  ['triggers', ['show', 'set', 'pause', 'resume', 'check']],
  ['triggers show', ['--model <m>', '--limit <n>', '--json']],
  [
    'triggers set',
    [
      '--model <m>',
      '--new-records <n>',
      '--live-error-increase-pct <p>',
      '--min-live-predictions <n>',
      '--live-window-days <n>',
      '--drift-psi <x>',
      '--check-every <duration>',
      '--cool-down <duration>',
      '--unset <field...>',
      '--none',
      '--json',
    ],
  ],
  ['triggers pause', ['--model <m>', '--json']],
  ['triggers resume', ['--model <m>', '--json']],
  ['triggers check', ['--model <m>', '--json']],
  ['bridge', ['redis']],
  [
    'bridge redis',
    [
      '--redis <url>',
      '--stream <name>',
      '--group <g>',
      '--consumer <name>',
      '--failed-stream <name>',
      '--claim-idle <ms>',
      '--metrics-port <port>',
    ],
  ],
  ['events', ['dead-letter']],
  ['events dead-letter', ['list', 'replay']],
  ['events dead-letter list', ['--json']],
  ['events dead-letter replay', ['[id]', '--all', '--json']],
  ['schedule', ['create', 'list', 'describe', 'pause', 'unpause', 'trigger', 'backfill', 'delete']],
  [
    'schedule create',
    [
      ...RUN_OPTIONS,
      '--cron <expr>',
      '(default: "0 2 * * 0")',
      '--timezone <tz>',
      '--jitter <duration>',
      '--overlap <policy>',
      '--paused',
      '--note <text>',
      '--json',
    ],
  ],
  ['schedule list', ['--json']],
  ['schedule describe', ['--model <m>', '--json']],
  ['schedule pause', ['--model <m>', '--note <text>']],
  ['schedule unpause', ['--model <m>', '--note <text>']],
  ['schedule trigger', ['--model <m>', '--json']],
  ['schedule backfill', ['--model <m>', '--from <time>', '--to <time>']],
  ['schedule delete', ['--model <m>', '--json']],
];

// Nothing listens there: a command that got past its usage checks would exit 1, not 2.
const retrain = cliWith(loadConfig({ TEMPORAL_ADDRESS: '127.0.0.1:1' }));

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('retrain --help', () => {
  it.each(COMMANDS)(
    'retrain %s --help prints its usage and options on stdout and exits 0',
    async (command, names) => {
      const path = command ? command.split(' ') : [];
      const result = await retrain(...path, '--help');
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toContain(`Usage: ${['retrain', ...path].join(' ')} `);
      for (const name of names) expect(result.stdout).toContain(name);
    },
  );

  it('the root help names the exit codes', async () => {
    const { stdout } = await retrain('--help');
    expect(stdout).toMatch(/Exit codes: 0 ok, 1 failure .* 2 bad usage/s);
  });

  it('--version prints the package version', async () => {
    expect(await retrain('--version')).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('--help and --version do not read the environment; a command that runs does', async () => {
    vi.stubEnv('GPU_SLOTS', 'lots');
    const fromEnv = cliWith();
    expect((await fromEnv('--help')).code).toBe(0);
    expect((await fromEnv('schedule', 'create', '--help')).code).toBe(0);
    expect((await fromEnv('--version')).code).toBe(0);
    const run = await fromEnv('list');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^retrain: Invalid environment: GPU_SLOTS/);
  });
});

describe('retrain usage errors', () => {
  it.each([
    ['list', []],
    ['status', ['retrain-x-20260101T000000Z']],
    ['start', ['--model', 'flight-delay']],
    ['models show', ['flight-delay']],
    ['schedule pause', ['--model', 'flight-delay']],
  ])(
    "an unknown option of retrain %s exits 2 with the reason and that command's usage",
    async (command, args) => {
      const result = await retrain(...command.split(' '), ...args, '--no-such-option');
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.split('\n')[0]).toBe("retrain: unknown option '--no-such-option'");
      expect(result.stderr).toContain(`Usage: retrain ${command} [options]`);
    },
  );

  it.each([
    [['status'], "missing required argument 'workflowId'", 'Usage: retrain status [options] <workflowId>'],
    [['cancel', 'a', 'b'], "too many arguments for 'cancel'", 'Usage: retrain cancel [options] <workflowId>'],
    [['stats'], "required option '--model <m>' not specified", 'Usage: retrain stats [options]'],
    [
      ['ingest', '--model', 'm'],
      "missing required argument 'files'",
      'Usage: retrain ingest [options] <files...>',
    ],
    [
      ['start', '--model', 'm', '--epochs', 'many'],
      'invalid retrain options: epochs: ',
      'Usage: retrain start [options]',
    ],
    [['list', '--model', 'Not A Slug'], 'invalid --model "Not A Slug"', 'Usage: retrain list [options]'],
    [['list', '--limit', '0'], '--limit must be a positive integer', 'Usage: retrain list [options]'],
    [
      ['schedule', 'create', '--model', 'm', '--overlap', 'sometimes'],
      "option '--overlap <policy>' argument 'sometimes' is invalid",
      'Usage: retrain schedule create [options]',
    ],
    [
      ['schedule', 'backfill', '--model', 'm', '--from', 'yesterday', '--to', '2026-01-01T00:00:00Z'],
      'backfill needs --from and --to as ISO times',
      'Usage: retrain schedule backfill [options]',
    ],
    [
      ['events', 'dead-letter', 'replay'],
      'replay needs a dead letter id or --all (not both)',
      'Usage: retrain events dead-letter replay [options] [id]',
    ],
    [
      ['events', 'dead-letter', 'replay', '../models/x'],
      '"../models/x" is not a dead letter id',
      'Usage: retrain events dead-letter replay [options] [id]',
    ],
    [['nope'], "unknown command 'nope'", 'Usage: retrain [options] [command]'],
  ])('retrain %j exits 2: %s', async (argv, reason, usage) => {
    const result = await retrain(...argv);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')[0]).toContain(`retrain: ${reason}`);
    expect(result.stderr).toContain(usage);
  });

  it('a command group without its subcommand prints its usage on stderr and exits 2', async () => {
    for (const group of ['models', 'triggers', 'bridge', 'events', 'schedule']) {
      const result = await retrain(group);
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toContain(`Usage: retrain ${group} [options] [command]`);
    }
    expect((await retrain()).code).toBe(2);
  });
});
