#!/usr/bin/env node
// The `heso` command (npx heso …): the same program as the Rust `heso` binary, run from
// the package's native addon.
'use strict';

process.exitCode = require('../dist/index.cjs').runCli(process.argv.slice(2));
