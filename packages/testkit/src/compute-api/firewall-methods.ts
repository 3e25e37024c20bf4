import { invalidField, requiredField } from './errors.js';
import { globalCollectionMethods } from './global-resources.js';
import type { MethodDefinition } from './methods.js';
import type { Json } from './model.js';
import { networkLink } from './network.js';
import { referenceContext, stringField } from './rules.js';

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(\/(\d{1,2}))?$/;
const PORTS = /^(\d{1,5})(-(\d{1,5}))?$/;

function checkRules(rules: unknown, field: string): Json[] | undefined {
  if (rules === undefined) return undefined;
  const list = rules as Json[];
  list.forEach((rule, index) => {
    if (stringField(rule, 'IPProtocol') === undefined) throw requiredField(`${field}[${index}].IPProtocol`);
    for (const port of (rule.ports as string[] | undefined) ?? []) {
      const match = PORTS.exec(port);
      const low = Number(match?.[1]);
      const high = match?.[3] === undefined ? low : Number(match[3]);
      if (match === null || low > 65535 || high > 65535 || high < low) {
        throw invalidField(`${field}[${index}].ports`, port, 'Invalid port specification.');
      }
    }
  });
  return structuredClone(list);
}

function checkRanges(ranges: unknown, field: string): string[] | undefined {
  if (ranges === undefined) return undefined;
  const list = ranges as string[];
  list.forEach((range, index) => {
    const match = CIDR.exec(range);
    const ok =
      match !== null &&
      [1, 2, 3, 4].every((i) => Number(match[i]) <= 255) &&
      (match[6] === undefined || Number(match[6]) <= 32);
    if (!ok) throw invalidField(`${field}[${index}]`, range, 'Must be a valid IPV4 CIDR address range.');
  });
  return [...list];
}

/** firewalls (global): insert, get, list, delete, patch, update. */
export const firewallMethods: MethodDefinition[] = globalCollectionMethods({
  collection: 'firewalls',
  kind: 'compute#firewall',
  usageName: 'firewall',
  bodyType: 'Firewall',
  build(call, body) {
    const allowed = checkRules(body.allowed, 'resource.allowed');
    const denied = checkRules(body.denied, 'resource.denied');
    if ((allowed?.length ?? 0) > 0 === (denied?.length ?? 0) > 0) {
      throw invalidField('resource.allowed', '', 'Exactly one of allowed or denied must be specified.');
    }
    const direction = stringField(body, 'direction') ?? 'INGRESS';
    let sourceRanges = checkRanges(body.sourceRanges, 'resource.sourceRanges');
    const destinationRanges = checkRanges(body.destinationRanges, 'resource.destinationRanges');
    const sourceTags = body.sourceTags as string[] | undefined;
    const sourceServiceAccounts = body.sourceServiceAccounts as string[] | undefined;
    // An ingress rule with no source at all applies to every source, and GCE writes that down.
    if (
      direction === 'INGRESS' &&
      !sourceRanges?.length &&
      !sourceTags?.length &&
      !sourceServiceAccounts?.length
    ) {
      sourceRanges = ['0.0.0.0/0'];
    }
    const priority = body.priority === undefined ? 1000 : Number(body.priority);
    if (!Number.isInteger(priority) || priority < 0 || priority > 65535) {
      throw invalidField('resource.priority', body.priority, 'Must be between 0 and 65535.');
    }
    const pick = (key: string, value: unknown) =>
      value === undefined || (Array.isArray(value) && value.length === 0) ? {} : { [key]: value };
    return {
      ...pick('description', body.description),
      network: networkLink(referenceContext(call), stringField(body, 'network'), 'resource.network'),
      priority,
      ...pick('sourceRanges', sourceRanges),
      ...pick('destinationRanges', destinationRanges),
      ...pick('sourceTags', sourceTags === undefined ? undefined : [...sourceTags]),
      ...pick('targetTags', body.targetTags === undefined ? undefined : [...(body.targetTags as string[])]),
      ...pick('sourceServiceAccounts', sourceServiceAccounts),
      ...pick('targetServiceAccounts', body.targetServiceAccounts),
      ...pick('allowed', allowed),
      ...pick('denied', denied),
      direction,
      logConfig: (body.logConfig as Json | undefined) ?? { enable: false },
      disabled: body.disabled === true,
    };
  },
});
