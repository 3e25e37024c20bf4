/** Repairs of changes made outside hacp, interrupted at every step, converge (see interruptions.test-support.ts). */
import { describeInterruptions } from './interruptions.test-support.js';

describeInterruptions([
  'repair a stopped replica at 3',
  'repair a missing target at 3',
  'repair a detached load balancer at 3',
  'repair a vanished replica at 3',
  'replace a vanished replica at 3',
  'replace --keep-data at 3',
]);
