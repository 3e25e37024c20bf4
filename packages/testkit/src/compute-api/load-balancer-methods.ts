import {
  alreadyExists,
  invalidField,
  notFound,
  requiredField,
  resourceInUse,
  resourceNotReady,
} from './errors.js';
import { globalCollectionMethods } from './global-resources.js';
import { link, resolveReference, resourcePath } from './links.js';
import type { MethodDefinition, MutateMethod } from './methods.js';
import { gceTimestamp, type Json, newFingerprint, newNumericId, type ProjectState } from './model.js';
import {
  addressByReference,
  allocateIp,
  checkRequestedIp,
  claimAddress,
  interfacesOf,
  releaseIp,
} from './network.js';
import type { Mutation } from './operations.js';
import {
  assertName,
  bodyObject,
  type Call,
  checkedLabels,
  existing,
  listResponse,
  referenceContext,
  regionParam,
  stringField,
} from './rules.js';
import { probeHttp } from './vm-runtime.js';

/** How long getHealth waits for an instance's health endpoint, as a health checker's timeout. */
const PROBE_TIMEOUT_MS = 1000;

/** Interval, timeout and thresholds with GCE's defaults and its rule timeout <= interval. */
function probeTimings(body: Json): Json {
  const value = (key: string, fallback: number) => (body[key] === undefined ? fallback : Number(body[key]));
  const checkIntervalSec = value('checkIntervalSec', 5);
  const timeoutSec = value('timeoutSec', 5);
  if (timeoutSec > checkIntervalSec) {
    throw invalidField(
      'resource.timeoutSec',
      String(timeoutSec),
      'TimeoutSec should be less than checkIntervalSec.',
    );
  }
  return {
    checkIntervalSec,
    timeoutSec,
    unhealthyThreshold: value('unhealthyThreshold', 2),
    healthyThreshold: value('healthyThreshold', 2),
  };
}

/** Target pools whose `healthChecks` name this link. */
function poolUsing(project: ProjectState, healthCheckLink: string): string | undefined {
  const pool = project
    .listAll('targetPools')
    .find(({ resource }) =>
      ((resource.healthChecks as string[] | undefined) ?? []).includes(healthCheckLink),
    );
  return pool === undefined ? undefined : resourcePath(project.name, pool.path);
}

const httpHealthCheckMethods = globalCollectionMethods({
  collection: 'httpHealthChecks',
  kind: 'compute#httpHealthCheck',
  usageName: 'http_health_check',
  bodyType: 'HttpHealthCheck',
  build(_call, body) {
    return {
      ...(body.description === undefined ? {} : { description: body.description }),
      ...(body.host === undefined ? {} : { host: body.host }),
      requestPath: stringField(body, 'requestPath') ?? '/',
      port: body.port === undefined ? 80 : Number(body.port),
      ...probeTimings(body),
    };
  },
  usedBy: poolUsing,
});

const healthCheckMethods = globalCollectionMethods({
  collection: 'healthChecks',
  kind: 'compute#healthCheck',
  usageName: 'health_check',
  bodyType: 'HealthCheck',
  build(_call, body) {
    const type = stringField(body, 'type');
    if (type === undefined) throw requiredField('resource.type');
    const http = body.httpHealthCheck as Json | undefined;
    if (type === 'HTTP' && http === undefined) throw requiredField('resource.httpHealthCheck');
    const { kind: _k, id: _i, creationTimestamp: _c, selfLink: _s, description, type: _t, ...rest } = body;
    return {
      ...(description === undefined ? {} : { description }),
      ...probeTimings(body),
      type,
      ...Object.fromEntries(
        Object.entries(rest).filter(
          ([key]) =>
            !['checkIntervalSec', 'timeoutSec', 'unhealthyThreshold', 'healthyThreshold'].includes(key),
        ),
      ),
      ...(http === undefined
        ? {}
        : {
            httpHealthCheck: {
              port: 80,
              requestPath: '/',
              proxyHeader: 'NONE',
              ...http,
            },
          }),
    };
  },
  usedBy: poolUsing,
});

/** A health check a target pool may use: a legacy httpHealthCheck, or (a double's leniency) an HTTP healthCheck. */
function healthCheckLink(call: Call, reference: string, field: string): string {
  const resolved = resolveReference(reference, referenceContext(call), 'global/httpHealthChecks');
  const parts = resolved?.path.split('/') ?? [];
  if (
    resolved === undefined ||
    parts.length !== 3 ||
    parts[0] !== 'global' ||
    (parts[1] !== 'httpHealthChecks' && parts[1] !== 'healthChecks')
  ) {
    throw invalidField(field, reference, 'Must be a reference to an HTTP health check.');
  }
  const check = call.project.resources.get(resolved.path);
  if (check === undefined || resolved.project !== call.project.name) {
    throw notFound(resourcePath(resolved.project, resolved.path));
  }
  if (parts[1] === 'healthChecks' && check.type !== 'HTTP') {
    throw invalidField(field, reference, 'Target pools support only HTTP health checks.');
  }
  return link(resolved.project, resolved.path);
}

/** An instance a target pool may hold: it exists, in the pool's region. */
function instanceLink(call: Call, region: string, reference: string, field: string): string {
  const resolved = resolveReference(reference, referenceContext(call));
  const parts = resolved?.path.split('/') ?? [];
  if (resolved === undefined || parts.length !== 4 || parts[0] !== 'zones' || parts[2] !== 'instances') {
    throw invalidField(field, reference, 'Must be a reference to an instance.');
  }
  if (!(parts[1] ?? '').startsWith(`${region}-`)) {
    throw invalidField(field, reference, `Instance must be in region '${region}'.`);
  }
  if (resolved.project !== call.project.name || !call.project.resources.has(resolved.path)) {
    throw notFound(resourcePath(resolved.project, resolved.path));
  }
  return link(resolved.project, resolved.path);
}

function poolTarget(call: Call): { region: string; path: string; pool: Json } {
  const region = regionParam(call);
  const path = `regions/${region}/targetPools/${call.params.targetPool}`;
  const pool = existing(call, path);
  if (call.project.pendingDeletes.has(path)) throw resourceNotReady(resourcePath(call.project.name, path));
  return { region, path, pool };
}

/** A target pool change: operation on the pool, `change` applied to its (re-read) JSON at completion. */
function poolMutation(
  call: Call,
  operationType: string,
  plan: (pool: Json, region: string) => (pool: Json) => void,
): Mutation {
  const { region, path, pool } = poolTarget(call);
  return {
    operationType,
    scope: { kind: 'region', region },
    targetPath: path,
    targetId: String(pool.id),
    prepare() {
      const current = existing(call, path);
      const change = plan(current, region);
      return () => change(current);
    },
  };
}

const referenceList = (body: Json, key: string, inner: string): string[] =>
  ((body[key] as Json[] | undefined) ?? []).map((entry) => String(entry[inner] ?? ''));

function poolAction(
  id: string,
  action: string,
  bodyType: string,
  plan: (call: Call, body: Json) => (pool: Json, region: string) => (pool: Json) => void,
): MutateMethod {
  return {
    kind: 'mutate',
    id: `compute.targetPools.${id}`,
    httpMethod: 'POST',
    pattern: `/regions/{region}/targetPools/{targetPool}/${action}`,
    bodyType,
    accept: (call) => poolMutation(call, action, plan(call, bodyObject(call))),
  };
}

/**
 * The health of one pool member: with VMs running, what the data path's checker last saw; else probed
 * at once at `http://<networkIP>:<port><path>` (a server whose instances are processes of the test).
 */
async function memberHealth(call: Call, pool: Json, member: string): Promise<'HEALTHY' | 'UNHEALTHY'> {
  const resolved = resolveReference(member, referenceContext(call));
  const instance = resolved === undefined ? undefined : call.project.resources.get(resolved.path);
  if (instance === undefined || instance.status !== 'RUNNING') return 'UNHEALTHY';
  const checkLink = ((pool.healthChecks as string[] | undefined) ?? [])[0];
  if (checkLink === undefined) return 'HEALTHY';
  const dataPath = call.server.dataPath;
  const poolPath = resolveReference(String(pool.selfLink), referenceContext(call))?.path;
  if (dataPath !== undefined && poolPath !== undefined && resolved !== undefined) {
    // VMs run: health as the checker last saw it, at the forwarding rule's IP (see data-path.ts).
    return dataPath.health(call.project, poolPath, resolved.path);
  }
  const checkPath = resolveReference(checkLink, referenceContext(call))?.path ?? '';
  const check = call.project.resources.get(checkPath);
  if (check === undefined) return 'UNHEALTHY';
  const http = (check.httpHealthCheck as Json | undefined) ?? check;
  const port = Number(http.port ?? 80);
  const requestPath = String(http.requestPath ?? '/');
  const ip = interfacesOf(instance)[0]?.networkIP;
  if (ip === undefined || ip === '') return 'UNHEALTHY';
  return (await probeHttp(`http://${ip}:${port}${requestPath}`, PROBE_TIMEOUT_MS)) ? 'HEALTHY' : 'UNHEALTHY';
}

const targetPoolMethods: MethodDefinition[] = [
  {
    kind: 'mutate',
    id: 'compute.targetPools.insert',
    httpMethod: 'POST',
    pattern: '/regions/{region}/targetPools',
    bodyType: 'TargetPool',
    accept(call) {
      const region = regionParam(call);
      const body = bodyObject(call);
      const name = assertName(body.name);
      const path = `regions/${region}/targetPools/${name}`;
      const { project } = call;
      if (project.resources.has(path) || project.pendingInserts.has(path)) {
        throw alreadyExists(resourcePath(project.name, path));
      }
      const id = newNumericId();
      return {
        operationType: 'insert',
        scope: { kind: 'region', region },
        targetPath: path,
        targetId: id,
        effect: 'insert',
        prepare() {
          if (project.resources.has(path)) throw alreadyExists(resourcePath(project.name, path));
          const checks = ((body.healthChecks as string[] | undefined) ?? []).map((reference, index) =>
            healthCheckLink(call, reference, `resource.healthChecks[${index}]`),
          );
          if (checks.length > 1) {
            throw invalidField(
              'resource.healthChecks',
              '',
              'A target pool can have at most one health check.',
            );
          }
          const members = ((body.instances as string[] | undefined) ?? []).map((reference, index) =>
            instanceLink(call, region, reference, `resource.instances[${index}]`),
          );
          return () => {
            project.resources.set(path, {
              kind: 'compute#targetPool',
              id,
              creationTimestamp: gceTimestamp(new Date()),
              name,
              ...(body.description === undefined ? {} : { description: body.description }),
              region: link(project.name, `regions/${region}`),
              ...(checks.length === 0 ? {} : { healthChecks: checks }),
              ...(members.length === 0 ? {} : { instances: [...new Set(members)] }),
              sessionAffinity: stringField(body, 'sessionAffinity') ?? 'NONE',
              ...(body.failoverRatio === undefined ? {} : { failoverRatio: body.failoverRatio }),
              ...(body.backupPool === undefined ? {} : { backupPool: body.backupPool }),
              selfLink: link(project.name, path),
            });
          };
        },
      };
    },
  },
  {
    kind: 'read',
    id: 'compute.targetPools.get',
    httpMethod: 'GET',
    pattern: '/regions/{region}/targetPools/{targetPool}',
    run: (call) =>
      structuredClone(existing(call, `regions/${regionParam(call)}/targetPools/${call.params.targetPool}`)),
  },
  {
    kind: 'read',
    id: 'compute.targetPools.list',
    httpMethod: 'GET',
    pattern: '/regions/{region}/targetPools',
    run(call) {
      const collection = `regions/${regionParam(call)}/targetPools`;
      return listResponse(call, {
        kind: 'compute#targetPoolList',
        collection,
        items: structuredClone(call.project.list(collection)),
      });
    },
  },
  {
    kind: 'mutate',
    id: 'compute.targetPools.delete',
    httpMethod: 'DELETE',
    pattern: '/regions/{region}/targetPools/{targetPool}',
    accept(call) {
      const { region, path, pool } = poolTarget(call);
      const { project } = call;
      return {
        operationType: 'delete',
        scope: { kind: 'region', region },
        targetPath: path,
        targetId: String(pool.id),
        effect: 'delete',
        prepare() {
          existing(call, path);
          const poolLink = link(project.name, path);
          const rule = project
            .listAll('forwardingRules')
            .find(({ resource }) => resource.target === poolLink);
          if (rule !== undefined) {
            throw resourceInUse(
              'target_pool',
              resourcePath(project.name, path),
              resourcePath(project.name, rule.path),
            );
          }
          return () => {
            project.resources.delete(path);
          };
        },
      };
    },
  },
  poolAction(
    'addInstance',
    'addInstance',
    'TargetPoolsAddInstanceRequest',
    (call, body) => (_pool, region) => {
      const members = referenceList(body, 'instances', 'instance').map((reference, index) =>
        instanceLink(call, region, reference, `resource.instances[${index}].instance`),
      );
      return (pool) => {
        const current = (pool.instances as string[] | undefined) ?? [];
        pool.instances = [...new Set([...current, ...members])];
      };
    },
  ),
  poolAction(
    'removeInstance',
    'removeInstance',
    'TargetPoolsRemoveInstanceRequest',
    (call, body) => (pool) => {
      const current = (pool.instances as string[] | undefined) ?? [];
      const members = new Set(
        referenceList(body, 'instances', 'instance').map((reference) => {
          const resolved = resolveReference(reference, referenceContext(call));
          const member = resolved === undefined ? reference : link(resolved.project, resolved.path);
          // GCE's answer (field and wording as it writes them) for an instance the pool does not hold.
          if (!current.includes(member)) {
            throw invalidField(
              'resource.instance',
              reference,
              'Instance is not currently attached to this target pool.',
            );
          }
          return member;
        }),
      );
      return (pool) => {
        const rest = ((pool.instances as string[] | undefined) ?? []).filter(
          (member) => !members.has(member),
        );
        if (rest.length === 0) delete pool.instances;
        else pool.instances = rest;
      };
    },
  ),
  poolAction(
    'addHealthCheck',
    'addHealthCheck',
    'TargetPoolsAddHealthCheckRequest',
    (call, body) => (pool) => {
      const checks = referenceList(body, 'healthChecks', 'healthCheck').map((reference, index) =>
        healthCheckLink(call, reference, `resource.healthChecks[${index}].healthCheck`),
      );
      const merged = [...new Set([...((pool.healthChecks as string[] | undefined) ?? []), ...checks])];
      if (merged.length > 1) {
        throw invalidField('resource.healthChecks', '', 'A target pool can have at most one health check.');
      }
      return (target) => {
        if (merged.length > 0) target.healthChecks = merged;
      };
    },
  ),
  poolAction(
    'removeHealthCheck',
    'removeHealthCheck',
    'TargetPoolsRemoveHealthCheckRequest',
    (call, body) => () => {
      const checks = new Set(
        referenceList(body, 'healthChecks', 'healthCheck').map((reference) => {
          const resolved = resolveReference(reference, referenceContext(call), 'global/httpHealthChecks');
          return resolved === undefined ? reference : link(resolved.project, resolved.path);
        }),
      );
      return (pool) => {
        const rest = ((pool.healthChecks as string[] | undefined) ?? []).filter(
          (check) => !checks.has(check),
        );
        if (rest.length === 0) delete pool.healthChecks;
        else pool.healthChecks = rest;
      };
    },
  ),
  {
    kind: 'read',
    id: 'compute.targetPools.getHealth',
    httpMethod: 'POST',
    pattern: '/regions/{region}/targetPools/{targetPool}/getHealth',
    bodyType: 'InstanceReference',
    async run(call) {
      const region = regionParam(call);
      const path = `regions/${region}/targetPools/${call.params.targetPool}`;
      const pool = existing(call, path);
      const reference = stringField(bodyObject(call), 'instance');
      if (reference === undefined || reference === '') throw requiredField('resource.instance');
      const resolved = resolveReference(reference, referenceContext(call));
      const member = resolved === undefined ? reference : link(resolved.project, resolved.path);
      if (!((pool.instances as string[] | undefined) ?? []).includes(member)) {
        throw invalidField(
          'resource.instance',
          reference,
          `Instance is not a member of target pool '${pool.name}'.`,
        );
      }
      const healthState = await memberHealth(call, pool, member);
      const poolLink = link(call.project.name, path);
      const rules = call.project
        .listAll('forwardingRules')
        .filter(({ resource }) => resource.target === poolLink);
      const instance = resolved === undefined ? undefined : call.project.resources.get(resolved.path);
      const internalIp = instance === undefined ? undefined : interfacesOf(instance)[0]?.networkIP;
      // One entry per forwarding rule (its IP, as GCE reports); the instance's own IP when there is none.
      const entries =
        rules.length > 0
          ? rules.map(({ resource }) => ({
              healthState,
              instance: member,
              ipAddress: String(resource.IPAddress),
              port: Number(String(resource.portRange ?? '0').split('-')[0]),
              forwardingRule: String(resource.selfLink),
              forwardingRuleIp: String(resource.IPAddress),
            }))
          : [
              {
                healthState,
                instance: member,
                ...(internalIp === undefined ? {} : { ipAddress: internalIp }),
              },
            ];
      return { kind: 'compute#targetPoolInstanceHealth', healthStatus: entries };
    },
  },
];

/** `6443`, `6443-6443` → `6443-6443`; 400 otherwise. */
function portRangeOf(given: unknown): string | undefined {
  if (given === undefined || given === '') return undefined;
  const text = String(given);
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const low = Number(match?.[1]);
  const high = match?.[2] === undefined ? low : Number(match[2]);
  if (match === null || low < 1 || high > 65535 || high < low) {
    throw invalidField('resource.portRange', text, 'Invalid port range.');
  }
  return `${low}-${high}`;
}

const forwardingRuleMethods: MethodDefinition[] = [
  {
    kind: 'mutate',
    id: 'compute.forwardingRules.insert',
    httpMethod: 'POST',
    pattern: '/regions/{region}/forwardingRules',
    bodyType: 'ForwardingRule',
    accept(call) {
      const region = regionParam(call);
      const body = bodyObject(call);
      const name = assertName(body.name);
      const path = `regions/${region}/forwardingRules/${name}`;
      const { project, server } = call;
      if (project.resources.has(path) || project.pendingInserts.has(path)) {
        throw alreadyExists(resourcePath(project.name, path));
      }
      const labels = checkedLabels(body.labels);
      const portRange = portRangeOf(body.portRange);
      const scheme = stringField(body, 'loadBalancingScheme') ?? 'EXTERNAL';
      if (scheme !== 'EXTERNAL') {
        throw invalidField(
          'resource.loadBalancingScheme',
          scheme,
          'Only EXTERNAL target-pool forwarding rules are supported.',
        );
      }
      const id = newNumericId();
      const ruleLink = link(project.name, path);
      return {
        operationType: 'insert',
        scope: { kind: 'region', region },
        targetPath: path,
        targetId: id,
        effect: 'insert',
        prepare() {
          if (project.resources.has(path)) throw alreadyExists(resourcePath(project.name, path));
          const target = stringField(body, 'target');
          if (target === undefined || target === '') throw requiredField('resource.target');
          const resolvedTarget = resolveReference(
            target,
            referenceContext(call),
            `regions/${region}/targetPools`,
          );
          const targetParts = resolvedTarget?.path.split('/') ?? [];
          if (resolvedTarget === undefined || targetParts[2] !== 'targetPools' || targetParts.length !== 4) {
            throw invalidField('resource.target', target, 'Must be a reference to a target pool.');
          }
          if (targetParts[1] !== region) {
            throw invalidField('resource.target', target, `Target pool must be in region '${region}'.`);
          }
          if (resolvedTarget.project !== project.name || !project.resources.has(resolvedTarget.path)) {
            throw notFound(resourcePath(resolvedTarget.project, resolvedTarget.path));
          }
          const requested = stringField(body, 'IPAddress');
          let reserved: Json | undefined;
          let ip: string | undefined;
          if (requested !== undefined && requested !== '') {
            if (/^\d+\.\d+\.\d+\.\d+$/.test(requested)) {
              reserved = checkRequestedIp({
                server,
                project,
                region,
                ip: requested,
                kind: 'EXTERNAL',
                field: 'resource.IPAddress',
                allowUnreserved: false,
              });
            } else {
              reserved = addressByReference(call, region, requested);
              if (reserved === undefined) {
                const resolved = resolveReference(
                  requested,
                  referenceContext(call),
                  `regions/${region}/addresses`,
                );
                throw notFound(
                  resourcePath(project.name, resolved?.path ?? `regions/${region}/addresses/${requested}`),
                );
              }
              checkRequestedIp({
                server,
                project,
                region,
                ip: String(reserved.address),
                kind: 'EXTERNAL',
                field: 'resource.IPAddress',
                allowUnreserved: false,
              });
            }
            ip = String(reserved?.address);
          }
          return () => {
            const address = ip ?? allocateIp(server, 'EXTERNAL');
            if (reserved !== undefined) claimAddress(reserved, ruleLink);
            project.resources.set(path, {
              kind: 'compute#forwardingRule',
              id,
              creationTimestamp: gceTimestamp(new Date()),
              name,
              ...(body.description === undefined ? {} : { description: body.description }),
              region: link(project.name, `regions/${region}`),
              IPAddress: address,
              IPProtocol: stringField(body, 'IPProtocol') ?? 'TCP',
              ...(portRange === undefined ? {} : { portRange }),
              target: link(resolvedTarget.project, resolvedTarget.path),
              selfLink: ruleLink,
              loadBalancingScheme: scheme,
              networkTier: stringField(body, 'networkTier') ?? 'PREMIUM',
              ...(Object.keys(labels).length === 0 ? {} : { labels }),
              labelFingerprint: newFingerprint(),
              fingerprint: newFingerprint(),
            });
          };
        },
      };
    },
  },
  {
    kind: 'read',
    id: 'compute.forwardingRules.get',
    httpMethod: 'GET',
    pattern: '/regions/{region}/forwardingRules/{forwardingRule}',
    run: (call) =>
      structuredClone(
        existing(call, `regions/${regionParam(call)}/forwardingRules/${call.params.forwardingRule}`),
      ),
  },
  {
    kind: 'read',
    id: 'compute.forwardingRules.list',
    httpMethod: 'GET',
    pattern: '/regions/{region}/forwardingRules',
    run(call) {
      const collection = `regions/${regionParam(call)}/forwardingRules`;
      return listResponse(call, {
        kind: 'compute#forwardingRuleList',
        collection,
        items: structuredClone(call.project.list(collection)),
      });
    },
  },
  {
    kind: 'mutate',
    id: 'compute.forwardingRules.delete',
    httpMethod: 'DELETE',
    pattern: '/regions/{region}/forwardingRules/{forwardingRule}',
    accept(call) {
      const region = regionParam(call);
      const path = `regions/${region}/forwardingRules/${call.params.forwardingRule}`;
      const { project } = call;
      const rule = existing(call, path);
      if (project.pendingDeletes.has(path)) throw resourceNotReady(resourcePath(project.name, path));
      return {
        operationType: 'delete',
        scope: { kind: 'region', region },
        targetPath: path,
        targetId: String(rule.id),
        effect: 'delete',
        prepare() {
          const current = existing(call, path);
          return () => {
            releaseIp(project, region, String(current.IPAddress), String(current.selfLink));
            project.resources.delete(path);
          };
        },
      };
    },
  },
];

/** httpHealthChecks (legacy) and healthChecks (global), targetPools and forwardingRules (regional). */
export const loadBalancerMethods: MethodDefinition[] = [
  ...httpHealthCheckMethods,
  ...healthCheckMethods,
  ...targetPoolMethods,
  ...forwardingRuleMethods,
];
