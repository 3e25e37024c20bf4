/** oclif's `command_not_found` hook: an unknown command is refused like any bad input (exit 2). */
import type { Hook } from '@oclif/core';
import { errorEnvelope, formatEnvelope } from '../envelope.js';
import { renderError } from '../errors.js';
import { unknownCommand } from '../not-found.js';

const hook: Hook<'command_not_found'> = async (options) => {
  const commands = options.config.commands
    .filter((command) => !command.hidden)
    .map((command) => command.id.replaceAll(':', ' '));
  const typed = options.id.replaceAll(':', ' ');
  const error = unknownCommand(typed, commands);
  if (options.argv?.includes('--json')) process.stdout.write(formatEnvelope(errorEnvelope(error)));
  else process.stderr.write(renderError(error));
  process.exitCode = 2;
};

export default hook;
