// Creates one idle instance through the built provider with a start check of an hour, so that it
// sits inside `create` after its process started: interruptions.integ.test.ts kills it there, as a
// SIGKILLed CLI would be.
import { createLocalProvider } from '../dist/index.js';

const [stateDir, name, cluster] = process.argv.slice(2);
const provider = createLocalProvider({ stateDir, startGraceMs: 3_600_000 });
await provider.instances.create(
  {
    name,
    zone: 'local-a',
    cluster,
    nodeConfig: { files: [], processes: [{ name: 'idle', command: 'sleep', args: ['3600'] }] },
  },
  { requestId: `creator-${name}` },
);
