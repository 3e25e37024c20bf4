import type compute from '@google-cloud/compute';

type Operation = compute.protos.google.cloud.compute.v1.IOperation;

/** The operations clients of the three scopes an operation lives in. */
export interface OperationsClients {
  zoneOperations: compute.ZoneOperationsClient;
  regionOperations: compute.RegionOperationsClient;
  globalOperations: compute.GlobalOperationsClient;
}

/**
 * For the server's tests: waits for the operation a mutating client call started, with the operations
 * client of its scope, until DONE (`wait` answers early after the server's wait timeout, as GCE's does
 * after two minutes); returns it, failed or not.
 *
 * @example
 * const operation = await operationDone(instances.insert({ ... }), { clients, project: 'hacp-test' });
 */
export async function operationDone(
  call: Promise<unknown>,
  options: { clients: OperationsClients; project: string },
): Promise<Operation> {
  const { clients, project } = options;
  const [started] = (await call) as [{ latestResponse: Operation }, ...unknown[]];
  let operation = started.latestResponse;
  const name = String(operation.name);
  const scope = (link: unknown) => String(link).split('/').pop();
  while (operation.status !== 'DONE') {
    if (operation.zone) {
      [operation] = await clients.zoneOperations.wait({
        project,
        zone: scope(operation.zone),
        operation: name,
      });
    } else if (operation.region) {
      [operation] = await clients.regionOperations.wait({
        project,
        region: scope(operation.region),
        operation: name,
      });
    } else {
      [operation] = await clients.globalOperations.wait({ project, operation: name });
    }
  }
  return operation;
}
