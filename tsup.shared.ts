import { defineConfig } from 'tsup';

/** How every package builds: ESM for Node 20 with .d.ts and source maps, from the given entries. */
export function packageBuildConfig(entry: string[] = ['src/index.ts']) {
  return defineConfig({
    entry,
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    dts: true,
    sourcemap: true,
    clean: true,
  });
}
