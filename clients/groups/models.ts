import { JSON_HELP, type CommandContext, type Program } from '../program';

/** `retrain models create|list|show`: model specs and their registered versions. */
export function registerModels(program: Program, { out, run }: CommandContext): void {
  const models = program.command('models').description('model specs and their registered versions');
  const commands = () => import('../commands/models.js');
  models
    .command('create')
    .description('validate a model spec file and store it')
    .argument('<spec.json>', 'the spec file')
    .option('--replace', 'overwrite a stored spec that differs')
    .option('--json', JSON_HELP)
    .action((file, opts, command) =>
      run(command, async (config) => (await commands()).modelsCreateCommand(file, opts, config, out)),
    );
  models
    .command('list')
    .description('every model with its task, production version and number of versions')
    .option('--json', JSON_HELP)
    .action((opts, command) =>
      run(command, async (config) => (await commands()).modelsListCommand(opts, config, out)),
    );
  models
    .command('show')
    .description("a model's spec, versions and aliases")
    .argument('<model>', 'the model name')
    .option('--json', JSON_HELP)
    .action((name, opts, command) =>
      run(command, async (config) => (await commands()).modelsShowCommand(name, opts, config, out)),
    );
}
