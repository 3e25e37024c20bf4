import type { FirewallRule } from '@hacp/core';
import { expectHacpError, expectSuccess } from '../assertions.js';
import type { CheckRegistry, Sandbox } from '../sandbox.js';

function etcdRule(sandbox: Sandbox, ports: readonly string[]): FirewallRule {
  return {
    name: sandbox.firewallName('etcd'),
    cluster: sandbox.cluster,
    protocol: 'tcp',
    ports,
    from: 'replicas',
  };
}

/** Firewall rules between a cluster's replicas. There is no read call, so only outcomes of calls are checked. */
export function firewallChecks({ check }: CheckRegistry): void {
  check(
    'ensure creates or updates a rule idempotently; delete removes it; deleting again is fine',
    async (sandbox) => {
      const { firewalls } = sandbox.provider;
      const rule = etcdRule(sandbox, ['2379-2380']);
      const requestId = sandbox.requestId();
      await firewalls.ensure(rule, { requestId });
      await expectSuccess(
        firewalls.ensure(rule, { requestId }),
        'repeating a successful firewall ensure with its requestId',
      );
      await expectSuccess(
        firewalls.ensure(rule, { requestId: sandbox.requestId() }),
        'ensuring a firewall rule that matches already',
      );
      await expectSuccess(
        firewalls.ensure({ ...rule, ports: ['2379', '2380', '6443'] }, { requestId: sandbox.requestId() }),
        'ensuring a firewall rule with other ports (an update)',
      );
      const deleteId = sandbox.requestId();
      await firewalls.delete(rule.name, { requestId: deleteId });
      await expectSuccess(
        firewalls.delete(rule.name, { requestId: deleteId }),
        'repeating a successful firewall delete with its requestId',
      );
      await expectSuccess(
        firewalls.delete(rule.name, { requestId: sandbox.requestId() }),
        'deleting a firewall rule that is already gone',
      );
    },
  );

  check('ensure with a malformed port is INVALID_ARGUMENT', async (sandbox) => {
    const { firewalls } = sandbox.provider;
    for (const port of ['abc', '70000']) {
      await expectHacpError(
        firewalls.ensure(etcdRule(sandbox, [port]), { requestId: sandbox.requestId() }),
        'INVALID_ARGUMENT',
        `ensuring a firewall rule with port ${JSON.stringify(port)}`,
      );
    }
  });
}
