/** remove, replace and down interrupted at every step converge (see interruptions.test-support.ts). */
import { describeInterruptions } from './interruptions.test-support.js';

describeInterruptions(['remove 3→2', 'remove 2→1', 'replace at 3', 'down']);
