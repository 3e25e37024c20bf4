import type { Mutation } from './operations.js';
import type { Call } from './rules.js';

/** A method that answers with a value (get, list, getHealth, operations.wait...). */
export interface ReadMethod {
  kind: 'read';
  /** Discovery id, e.g. `compute.instances.get`. */
  id: string;
  httpMethod: 'GET' | 'POST' | 'DELETE';
  /** The path after `/compute/v1/projects/{project}`, with `{param}` segments. */
  pattern: string;
  /** The message type of the body (checked with `validateBody`), if the method takes one. */
  bodyType?: string;
  run(call: Call): unknown | Promise<unknown>;
}

/** A method that changes something and answers with an Operation. */
export interface MutateMethod {
  kind: 'mutate';
  id: string;
  httpMethod: 'POST' | 'DELETE' | 'PATCH' | 'PUT';
  pattern: string;
  bodyType?: string;
  /**
   * Checks what only acceptance checks (fingerprints, name reservations) and describes the change; the
   * checks that hold until completion go in the mutation's `prepare`. Throws ComputeApiError to refuse.
   */
  accept(call: Call): Mutation;
}

/** Any method the double serves. */
export type MethodDefinition = ReadMethod | MutateMethod;
