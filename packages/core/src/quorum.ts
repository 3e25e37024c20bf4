/**
 * etcd's quorum arithmetic, written once: raft commits an entry once a strict majority of the voting
 * members has it. Learners do not vote and are not counted.
 */
import { invalidArgument } from './errors.js';

function assertVoterCount(voters: number): void {
  if (!Number.isSafeInteger(voters) || voters < 1) {
    throw invalidArgument({
      field: 'voters',
      value: voters,
      message: `A cluster of ${voters} voters has no quorum: the voter count must be an integer of at least 1.`,
    });
  }
}

/**
 * The number of voters etcd needs to commit anything: ⌊voters/2⌋ + 1.
 *
 * @example quorumOf(3) // 2
 * @example quorumOf(4) // 3
 * @throws HacpError INVALID_ARGUMENT (`details.field = 'voters'`) unless `voters` is an integer ≥ 1.
 */
export function quorumOf(voters: number): number {
  assertVoterCount(voters);
  return Math.floor(voters / 2) + 1;
}

/**
 * How many voters a cluster of `voters` can lose, all healthy to begin with, and still commit:
 * `voters − quorumOf(voters)`. An even count tolerates no more than the odd count below it.
 *
 * @example toleratedFailures(3) // 1
 * @example toleratedFailures(4) // 1
 * @throws HacpError INVALID_ARGUMENT (`details.field = 'voters'`) unless `voters` is an integer ≥ 1.
 */
export function toleratedFailures(voters: number): number {
  return voters - quorumOf(voters);
}
