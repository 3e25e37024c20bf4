import type { InstanceRef, Reach, ReadOptions } from '../provider.js';
import { assertPort, throwIfAborted } from '../provider-input.js';
import { notFound, type ProcessCloud } from './cloud.js';

/**
 * `reach` of a process cloud: an instance's own address and the port plus its offset, reachable
 * from here as it is (no tunnel to open or close).
 *
 * @throws HacpError NOT_FOUND when the instance does not exist.
 */
export function createLoopbackReach(
  cloud: ProcessCloud,
): (instance: InstanceRef, port: number, options?: ReadOptions) => Promise<Reach> {
  return async (instance, port, options) => {
    throwIfAborted(options?.signal);
    cloud.assertRef(instance);
    assertPort('port', port);
    const record = await cloud.readInstance(instance);
    if (record === undefined) {
      throw notFound(`Instance ${instance.name} in zone ${instance.zone}`, { ...instance });
    }
    return { host: record.network.internalIp, port: port + record.network.portOffset, close: async () => {} };
  };
}
