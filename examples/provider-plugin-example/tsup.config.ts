import { defineConfig } from 'tsup';

// index: the provider and the plugin (the default export); hook: the CLI's `hacp:providers` hook.
export default defineConfig({
  entry: ['src/index.ts', 'src/hook.ts'],
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: true,
  sourcemap: true,
  clean: true,
});
