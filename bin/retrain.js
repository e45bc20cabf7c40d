#!/usr/bin/env node
'use strict';
// The command line runs from the TypeScript sources through tsx, registered as `node --import tsx`
// registers it: the require hook for the modules, the loader hook for each command's lazy import().
import('tsx')
  .then(() => require('../clients/cli.ts').main(process.argv.slice(2)))
  .then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
