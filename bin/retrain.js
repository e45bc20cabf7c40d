#!/usr/bin/env node
'use strict';
// The command line runs from the TypeScript sources through tsx's require hook.
require('tsx/cjs');
require('../clients/cli.ts')
  .main(process.argv.slice(2))
  .then((code) => process.exit(code));
