// Creates one idle instance through the built provider and exits: instances.integ.test.ts checks
// that the instance's process outlives this process.
import { createLocalProvider } from '../dist/index.js';

const [stateDir, name] = process.argv.slice(2);
const provider = createLocalProvider({ stateDir });
await provider.instances.create(
  {
    name,
    zone: 'local-a',
    cluster: 'outlive',
    nodeConfig: { files: [], processes: [{ name: 'idle', command: 'sleep', args: ['3600'] }] },
  },
  { requestId: `outlive-${name}` },
);
