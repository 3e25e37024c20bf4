/** up, replicate and repair interrupted at every step converge (see interruptions.test-support.ts). */
import { describeInterruptions } from './interruptions.test-support.js';

describeInterruptions(['up', 'replicate 1→2', 'replicate 2→3', 'repair at 3']);
