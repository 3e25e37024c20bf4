/** recover interrupted at every step converges (see interruptions.test-support.ts). */
import { describeInterruptions } from './interruptions.test-support.js';

describeInterruptions(['recover at 3']);
