#!/usr/bin/env node
import { execute, settings } from '@oclif/core';
import { commandLine } from '../dist/argv.js';

// Linked ESM plugins run from their dist/; no transpiling, and no warning about it.
settings.enableAutoTranspile = false;

// Global flags before the command, and `hacp help <command>`, as people type them.
await execute({ dir: import.meta.url, args: commandLine(process.argv.slice(2)) });

// The command is done: exit once its output is written, rather than wait for every handle to close
// (a connect to a frozen etcd member, a tunnel that hangs would otherwise keep hacp running).
await new Promise((resolve) => process.stdout.write('', resolve));
await new Promise((resolve) => process.stderr.write('', resolve));
process.exit();
