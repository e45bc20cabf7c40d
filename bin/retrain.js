#!/usr/bin/env node
'use strict';
// The command line from its bundle (fast start-up; rebuilt first when a source changed), else from
// the TypeScript sources through tsx (registered as `node --import tsx` would: the require hook for
// the modules, the loader hook for each command's lazy import()).
const { currentBundle } = require('../scripts/lib/cli-bundle.js');

const bundle = currentBundle();
(bundle ? Promise.resolve(require(bundle)) : import('tsx').then(() => require('../clients/cli.ts')))
  .then((cli) => cli.main(process.argv.slice(2)))
  .then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
