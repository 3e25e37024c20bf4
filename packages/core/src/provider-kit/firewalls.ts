import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FirewallApi, FirewallRule } from '../provider.js';
import { assertFirewallRule, assertResourceName, throwIfAborted } from '../provider-input.js';
import type { ProcessCloud } from './cloud.js';

/**
 * The firewall rules of a process cloud, recorded and not enforced: every instance listens on this
 * machine's loopback, which no other host reaches. They are kept so that status shows them and a
 * move to a real cloud keeps them.
 */
export function createRecordedFirewalls(cloud: ProcessCloud): FirewallApi {
  const fileOf = (name: string) => join(cloud.paths.firewalls, `${name}.json`);
  return {
    async ensure(rule, mutation) {
      throwIfAborted(mutation.signal);
      assertFirewallRule(rule);
      await cloud.prepare();
      const stored: FirewallRule = {
        name: rule.name,
        cluster: rule.cluster,
        protocol: rule.protocol,
        ports: [...rule.ports],
        from: rule.from,
      };
      await cloud.locked(() => cloud.files.write(fileOf(rule.name), { rule: stored }));
    },
    async delete(name, mutation) {
      throwIfAborted(mutation.signal);
      assertResourceName('name', name);
      await cloud.locked(() => rm(fileOf(name), { force: true }));
    },
  };
}
