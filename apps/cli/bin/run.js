#!/usr/bin/env node
import { execute, settings } from '@oclif/core';

// Linked ESM plugins run from their dist/; no transpiling, and no warning about it.
settings.enableAutoTranspile = false;

await execute({ dir: import.meta.url });
