#!/usr/bin/env node
import { execute, settings } from '@oclif/core';

// Linked ESM plugins run from their dist/; no transpiling, and no warning about it.
settings.enableAutoTranspile = false;

await execute({ dir: import.meta.url });

// The command is done: exit once its output is written, rather than wait for every handle to close
// (a connect to a frozen etcd member, a tunnel that hangs would otherwise keep hacp running).
await new Promise((resolve) => process.stdout.write('', resolve));
await new Promise((resolve) => process.stderr.write('', resolve));
process.exit();
