/**
 * The integration suite, run against one real kube-apiserver per test file: the same tests for every
 * Kubernetes version (`addon-manager.integ.test.ts` on 1.23, `addon-manager-1.32.integ.test.ts` on
 * the 1.32 line). Test support, not exported from the package.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '@hacp/core';
import { type SpawnedProcess, spawnTracked, startTestApiserver, testKubernetesBinaries } from '@hacp/testkit';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADDON_MODE_LABEL, parseAddonManifests } from './manifests.js';
import { ADDON_FIELD_MANAGER, ADDON_MANAGED_ANNOTATION, reconcileAddons } from './reconcile.js';
import { type AddonPassReport, runAddonManager } from './run.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

type Apiserver = Awaited<ReturnType<typeof startTestApiserver>>;

function configMap(options: {
  name: string;
  namespace?: string;
  mode?: string;
  data?: Record<string, string>;
}): string {
  return [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    `  name: ${options.name}`,
    ...(options.namespace === undefined ? [] : [`  namespace: ${options.namespace}`]),
    ...(options.mode === undefined ? [] : ['  labels:', `    ${ADDON_MODE_LABEL}: ${options.mode}`]),
    'data:',
    ...Object.entries(options.data ?? { key: 'folder' }).map(([k, v]) => `  ${k}: ${v}`),
    '',
  ].join('\n');
}

const namespace = (name: string) =>
  `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n  labels:\n    ${ADDON_MODE_LABEL}: Reconcile\n`;

function webApp(ns: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${ns}
  labels: {${ADDON_MODE_LABEL}: Reconcile}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.k8s.io/pause:3.9
        ports: [{containerPort: 8080, name: http}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: ${ns}
  labels: {${ADDON_MODE_LABEL}: Reconcile}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
`;
}

/** The suite for one Kubernetes version spec (`1.23`, `latest-1.32`). */
export async function addonManagerSuite(spec: string): Promise<void> {
  const found = await testKubernetesBinaries(spec);
  const skip = found.skip;
  const title = `the add-on manager against a real kube-apiserver ${spec}`;

  describe.skipIf(skip !== undefined)(skip === undefined ? title : `${title} (skipped: ${skip})`, () => {
    let apiserver: Apiserver;
    let kubeconfig: KubeConfig;
    let core: CoreV1Api;
    let apps: AppsV1Api;
    let dir: string;

    beforeAll(async () => {
      if (found.binaries === undefined) return;
      apiserver = await startTestApiserver({ binaries: found.binaries });
      kubeconfig = new KubeConfig();
      kubeconfig.loadFromFile(apiserver.kubeconfigPath);
      core = kubeconfig.makeApiClient(CoreV1Api);
      apps = kubeconfig.makeApiClient(AppsV1Api);
      dir = mkdtempSync(join(tmpdir(), 'hacp-addons-integ-'));
    }, 180_000);
    afterAll(async () => {
      await apiserver?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }, 120_000);

    /** A namespace of the test's own, created by hand (not an add-on). */
    async function freshNamespace(prefix: string): Promise<string> {
      const name = `${prefix}-${randomBytes(3).toString('hex')}`;
      await core.createNamespace({ body: { metadata: { name } } });
      return name;
    }

    const pass = (text: string) =>
      reconcileAddons({ kubeconfig, objects: parseAddonManifests(text, 'test.yaml') });
    const readData = async (name: string, ns: string) =>
      (await core.readNamespacedConfigMap({ name, namespace: ns })).data;

    it('Reconcile: creates, then brings back an object deleted by hand and reverts an edit by hand', async () => {
      const ns = await freshNamespace('reconcile');
      const folder = configMap({ name: 'kept', namespace: ns, mode: 'Reconcile' });
      const name = `ConfigMap/${ns}/kept`;

      expect(await pass(folder)).toMatchObject({ created: [name], applied: [], failed: [] });
      const live = await core.readNamespacedConfigMap({ name: 'kept', namespace: ns });
      expect(live.metadata?.annotations?.[ADDON_MANAGED_ANNOTATION]).toBe('true');
      expect(live.metadata?.managedFields?.map((f) => f.manager)).toContain(ADDON_FIELD_MANAGER);
      expect(await pass(folder)).toMatchObject({ unchanged: [name], created: [], applied: [] });

      await core.replaceNamespacedConfigMap({
        name: 'kept',
        namespace: ns,
        body: {
          ...live,
          metadata: { ...live.metadata, managedFields: undefined },
          data: { key: 'edited by hand' },
        },
      });
      expect(await readData('kept', ns)).toEqual({ key: 'edited by hand' });
      expect(await pass(folder)).toMatchObject({ applied: [name], failed: [] });
      expect(await readData('kept', ns)).toEqual({ key: 'folder' });

      await core.deleteNamespacedConfigMap({ name: 'kept', namespace: ns });
      expect(await pass(folder)).toMatchObject({ created: [name], failed: [] });
      expect(await readData('kept', ns)).toEqual({ key: 'folder' });
    });

    it('EnsureExists: creates when missing, and leaves an edit by hand alone', async () => {
      const ns = await freshNamespace('ensure');
      const folder = configMap({ name: 'seed', namespace: ns, mode: 'EnsureExists' });
      const name = `ConfigMap/${ns}/seed`;

      expect(await pass(folder)).toMatchObject({ created: [name], failed: [] });
      const live = await core.readNamespacedConfigMap({ name: 'seed', namespace: ns });
      expect(live.metadata?.annotations?.[ADDON_MANAGED_ANNOTATION]).toBeUndefined();

      await core.replaceNamespacedConfigMap({
        name: 'seed',
        namespace: ns,
        body: {
          ...live,
          metadata: { ...live.metadata, managedFields: undefined },
          data: { key: 'edited by hand', more: 'yes' },
        },
      });
      expect(await pass(folder)).toMatchObject({ unchanged: [name], created: [], applied: [] });
      expect(await readData('seed', ns)).toEqual({ key: 'edited by hand', more: 'yes' });

      await core.deleteNamespacedConfigMap({ name: 'seed', namespace: ns });
      expect(await pass(folder)).toMatchObject({ created: [name] });
      expect(await readData('seed', ns)).toEqual({ key: 'folder' });
    });

    it('prunes a Reconcile object removed from the folder, never one this manager did not apply', async () => {
      const ns = await freshNamespace('prune');
      const stays = configMap({ name: 'stays', namespace: ns, mode: 'Reconcile' });
      const goes = configMap({ name: 'goes', namespace: ns, mode: 'Reconcile' });
      const seed = configMap({ name: 'seed', namespace: ns, mode: 'EnsureExists' });
      await core.createNamespacedConfigMap({
        namespace: ns,
        body: {
          metadata: { name: 'foreign', labels: { [ADDON_MODE_LABEL]: 'Reconcile' } },
          data: { by: 'hand' },
        },
      });
      // Every pass keeps the whole cluster, so it also prunes what earlier tests applied: look at ns only.
      const inNamespace = (names: string[]) => names.filter((name) => name.includes(`/${ns}/`));
      const first = await pass(`${stays}---\n${goes}---\n${seed}`);
      expect(first.failed).toEqual([]);
      expect(inNamespace(first.pruned)).toEqual([]);

      const result = await pass(stays);
      expect(inNamespace(result.pruned)).toEqual([`ConfigMap/${ns}/goes`]);
      expect(result.failed).toEqual([]);
      const left = await core.listNamespacedConfigMap({ namespace: ns });
      const names = left.items.map((item) => item.metadata?.name);
      expect(names).toContain('foreign');
      expect(names).toContain('stays');
      expect(names).toContain('seed');
      expect(names).not.toContain('goes');
    });

    it('applies a Deployment and Service pair, their Namespace first, and again without change', async () => {
      const ns = `web-${randomBytes(3).toString('hex')}`;
      // The Namespace comes last in the text: the pass still creates it first.
      const folder = `${webApp(ns)}---\n${namespace(ns)}`;
      const first = await pass(folder);
      expect(first.failed).toEqual([]);
      expect(first.created).toEqual([`Namespace/${ns}`, `Deployment/${ns}/web`, `Service/${ns}/web`]);
      const deployment = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
      expect(deployment.spec?.replicas).toBe(2);
      expect(deployment.spec?.template.spec?.containers[0]?.ports?.[0]?.name).toBe('http');
      const service = await core.readNamespacedService({ name: 'web', namespace: ns });
      expect(service.spec?.clusterIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(service.spec?.ports?.[0]?.targetPort).toBe('http');

      const second = await pass(folder);
      expect(second).toMatchObject({ created: [], applied: [], failed: [] });
      expect(second.unchanged).toHaveLength(3);
    });

    it('puts a namespaced object without a namespace in default, and a refused object fails alone', async () => {
      const suffix = randomBytes(3).toString('hex');
      const result = await pass(
        `${configMap({ name: `no-ns-${suffix}`, mode: 'Reconcile' })}---\n${configMap({ name: `bad-key-${suffix}`, mode: 'Reconcile', data: { 'not a key!': 'x' } })}---\n${configMap({ name: `plain-${suffix}` })}`,
      );
      expect(result.created).toEqual([`ConfigMap/default/no-ns-${suffix}`]);
      expect(result.ignored).toEqual([`ConfigMap/plain-${suffix}`]);
      expect(result.failed).toHaveLength(1);
      expect(result.failed[0]?.object).toBe(`ConfigMap/default/bad-key-${suffix}`);
      expect(result.failed[0]?.message).toMatch(/^422 Invalid: /);
      expect(await readData(`no-ns-${suffix}`, 'default')).toEqual({ key: 'folder' });
      await expect(
        core.readNamespacedConfigMap({ name: `plain-${suffix}`, namespace: 'default' }),
      ).rejects.toThrow();
    });

    it('runs a pass every interval: an object deleted by hand comes back by itself', async () => {
      const ns = await freshNamespace('loop');
      const addons = mkdtempSync(join(dir, 'loop-'));
      writeFileSync(join(addons, 'cm.yaml'), configMap({ name: 'looped', namespace: ns, mode: 'Reconcile' }));
      const controller = new AbortController();
      const reports: AddonPassReport[] = [];
      const errors: string[] = [];
      const loop = runAddonManager({
        kubeconfig,
        addonsDir: addons,
        intervalMs: 300,
        signal: controller.signal,
        onPass: (report) => reports.push(report),
        onError: (error) => errors.push(String(error)),
      });
      const creations = () => reports.filter((r) => r.created.includes(`ConfigMap/${ns}/looped`)).length;
      // Waits say what the passes did, so a slow one is told from a wrong one.
      const passesThatCreated = (count: number) => () =>
        creations() >= count
          ? { done: true as const, value: count }
          : {
              done: false as const,
              reason: `${reports.length} passes, ${creations()} created it; last ${JSON.stringify(reports.at(-1))}; errors ${JSON.stringify(errors)}`,
            };
      try {
        await waitUntil({
          description: 'a pass to create the ConfigMap',
          timeoutMs: 60_000,
          check: passesThatCreated(1),
        });
        await core.deleteNamespacedConfigMap({ name: 'looped', namespace: ns });
        await waitUntil({
          description: 'a pass to bring it back',
          timeoutMs: 60_000,
          check: passesThatCreated(2),
        });
        expect(await readData('looped', ns)).toEqual({ key: 'folder' });
      } finally {
        controller.abort();
        await loop;
      }
      expect(creations()).toBe(2);
      expect(reports.every((r) => r.failed.length === 0)).toBe(true);
      // The waits' own budgets, not the project's 60 s per test, decide when this is too slow.
    }, 150_000);

    /** Runs the loop on `addons` until `until` says so for the reports so far; returns them. */
    async function loopUntil(
      addons: string,
      steps: {
        description: string;
        until: (reports: AddonPassReport[]) => boolean;
        afterwards?: () => void;
      }[],
    ): Promise<AddonPassReport[]> {
      const controller = new AbortController();
      const reports: AddonPassReport[] = [];
      const loop = runAddonManager({
        kubeconfig,
        addonsDir: addons,
        intervalMs: 300,
        signal: controller.signal,
        onPass: (report) => reports.push(report),
      });
      try {
        for (const step of steps) {
          const seen = reports.length;
          await waitUntil({
            description: step.description,
            timeoutMs: 60_000,
            check: () => (step.until(reports.slice(seen)) ? { done: true, value: true } : { done: false }),
          });
          step.afterwards?.();
        }
      } finally {
        controller.abort();
        await loop;
      }
      return reports;
    }

    it('prunes nothing while a file of the folder cannot be parsed, and prunes once it is gone', async () => {
      const ns = await freshNamespace('broken');
      const addons = mkdtempSync(join(dir, 'broken-'));
      writeFileSync(join(addons, 'a.yaml'), configMap({ name: 'a', namespace: ns, mode: 'Reconcile' }));
      writeFileSync(join(addons, 'b.yaml'), configMap({ name: 'b', namespace: ns, mode: 'Reconcile' }));
      const created = (r: AddonPassReport) => r.created.includes(`ConfigMap/${ns}/b`);
      let skipped: AddonPassReport | undefined;
      const reports = await loopUntil(addons, [
        {
          description: 'a pass to create both',
          until: (passes) => passes.some(created),
          afterwards: () =>
            writeFileSync(join(addons, 'b.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n'),
        },
        {
          description: 'a pass that cannot read b.yaml',
          until: (passes) => {
            skipped = passes.find((r) => r.problems.length > 0);
            return skipped !== undefined;
          },
          afterwards: () => rmSync(join(addons, 'b.yaml')),
        },
        {
          description: 'a pass that prunes b',
          until: (passes) => passes.some((r) => r.pruned.includes(`ConfigMap/${ns}/b`)),
        },
      ]);
      expect(skipped).toMatchObject({
        pruned: [],
        pruneSkipped: '1 file(s) of the add-on folder could not be read',
        problems: [{ file: 'b.yaml' }],
      });
      // Every manager keeps the whole cluster: this loop also prunes what earlier tests' folders applied.
      expect(reports.flatMap((r) => r.pruned).filter((name) => name.includes(`/${ns}/`))).toEqual([
        `ConfigMap/${ns}/b`,
      ]);
      const names = (await core.listNamespacedConfigMap({ namespace: ns })).items.map(
        (i) => i.metadata?.name,
      );
      expect(names).toContain('a');
      expect(names).not.toContain('b');
    });

    it('applies a CRD before its custom resource, and prunes both when their file leaves the folder', async () => {
      const ns = await freshNamespace('crd');
      const group = `g${randomBytes(3).toString('hex')}.example.com`;
      const addons = mkdtempSync(join(dir, 'crd-'));
      writeFileSync(join(addons, 'a.yaml'), configMap({ name: 'stays', namespace: ns, mode: 'Reconcile' }));
      // The custom resource comes first in the file: the CRD is applied before it all the same.
      writeFileSync(
        join(addons, 'widgets.yaml'),
        `apiVersion: ${group}/v1
kind: Widget
metadata:
  name: w
  namespace: ${ns}
  labels: {${ADDON_MODE_LABEL}: Reconcile}
spec: {color: blue}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.${group}
  labels: {${ADDON_MODE_LABEL}: Reconcile}
spec:
  group: ${group}
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-preserve-unknown-fields: true
            properties:
              size: {type: integer, default: 3}
`,
      );
      const widget = `Widget/${ns}/w`;
      const crd = `CustomResourceDefinition/widgets.${group}`;
      const reports = await loopUntil(addons, [
        {
          description: 'a pass to create the CRD and the Widget',
          until: (passes) => passes.some((r) => r.created.includes(widget)),
          afterwards: () => rmSync(join(addons, 'widgets.yaml')),
        },
        {
          description: 'a pass to prune them',
          until: (passes) => passes.some((r) => r.pruned.includes(crd)),
        },
      ]);
      expect(reports.flatMap((r) => r.created)).toEqual(expect.arrayContaining([crd, widget]));
      expect(reports.find((r) => r.created.includes(crd))?.created.indexOf(crd)).toBe(0);
      // Contents before what holds them: the Widget, then its CRD.
      expect(reports.flatMap((r) => r.pruned).filter((name) => name === widget || name === crd)).toEqual([
        widget,
        crd,
      ]);
      const names = (await core.listNamespacedConfigMap({ namespace: ns })).items.map(
        (i) => i.metadata?.name,
      );
      expect(names).toContain('stays');
    });

    describe('the program (node dist/main.js)', () => {
      let program: SpawnedProcess | undefined;
      afterEach(async () => {
        await program?.stop({ graceMs: 10_000 });
        program = undefined;
      });

      it('does a pass, logs it as JSON, and exits 0 on SIGTERM', async () => {
        const ns = await freshNamespace('program');
        const addons = mkdtempSync(join(dir, 'program-'));
        writeFileSync(
          join(addons, 'cm.yaml'),
          configMap({ name: 'by-program', namespace: ns, mode: 'Reconcile' }),
        );
        writeFileSync(join(addons, 'broken.yaml'), 'apiVersion: v1\nkind: ConfigMap\n');
        const logFile = join(addons, '..', `${ns}.log`);
        program = spawnTracked({
          command: process.execPath,
          args: [
            MAIN,
            '--kubeconfig',
            apiserver.kubeconfigPath,
            '--addons-dir',
            addons,
            '--interval-seconds',
            '1',
          ],
          logFile,
          marker: addons,
        });
        const lines = () =>
          readFileSync(logFile, 'utf8')
            .split('\n')
            .filter((line) => line !== '')
            .map((line) => JSON.parse(line) as Record<string, unknown>);
        const passLine = await waitUntil({
          description: 'the program to log a pass',
          timeoutMs: 60_000,
          check: () => {
            const found = lines().find((line) => line.event === 'pass');
            return found ? { done: true, value: found } : { done: false };
          },
        });
        expect(passLine).toMatchObject({
          level: 'warn',
          counts: { created: 1, problems: 1, failed: 0 },
          changed: { created: [`ConfigMap/${ns}/by-program`] },
        });
        expect(lines()).toContainEqual(expect.objectContaining({ event: 'problem', file: 'broken.yaml' }));
        expect(lines()).toContainEqual(expect.objectContaining({ event: 'prune-skipped' }));
        expect(await readData('by-program', ns)).toEqual({ key: 'folder' });

        program.child.kill('SIGTERM');
        expect(await program.exited).toEqual({ code: 0, signal: null });
        expect(lines().at(-1)).toMatchObject({ event: 'stopped' });
      });

      it('exits 2 with a plain message for bad flags, touching nothing', async () => {
        const ns = await freshNamespace('bad-flags');
        const addons = mkdtempSync(join(dir, 'bad-flags-'));
        writeFileSync(
          join(addons, 'cm.yaml'),
          configMap({ name: 'never', namespace: ns, mode: 'Reconcile' }),
        );
        const logFile = join(dir, `${ns}.log`);
        program = spawnTracked({
          command: process.execPath,
          args: [
            MAIN,
            '--kubeconfig',
            apiserver.kubeconfigPath,
            '--addons-dir',
            addons,
            '--interval-seconds',
            'soon',
          ],
          logFile,
          marker: addons,
        });
        expect(await program.exited).toEqual({ code: 2, signal: null });
        const output = readFileSync(logFile, 'utf8');
        expect(output).toMatch(/^hacp-addon-manager: --interval-seconds must be a number of seconds/);
        expect(output).toContain('Usage: hacp-addon-manager');
        const left = await core.listNamespacedConfigMap({ namespace: ns });
        expect(left.items.map((item) => item.metadata?.name)).not.toContain('never');
      });
    });
  });
}
