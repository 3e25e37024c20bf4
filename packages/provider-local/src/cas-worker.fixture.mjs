// Increments the record "counter" `count` times through the built provider's state store,
// retrying on CONFLICT: run by state-store.test.ts as one of several concurrent processes.
import { createLocalProvider } from '../dist/index.js';

const [stateDir, count] = process.argv.slice(2);
const { state } = createLocalProvider({ stateDir });
for (let done = 0; done < Number(count); ) {
  const current = await state.get('counter');
  try {
    await state.put('counter', current.value + 1, {
      requestId: `${process.pid}-${done}`,
      expectedVersion: current.version,
    });
    done++;
  } catch (error) {
    if (error?.code !== 'CONFLICT') throw error;
  }
}
