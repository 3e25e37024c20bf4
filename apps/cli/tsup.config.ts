import { defineConfig } from 'tsup';

// Every command is its own entry, so that oclif finds them under dist/commands (its pattern strategy).
export default defineConfig({
  entry: ['src/index.ts', 'src/argv.ts', 'src/commands/**/*.ts', 'src/hooks/*.ts', '!src/**/*.test.ts'],
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
});
