import { isHacpError } from '@hacp/core';
import { describe, expect, it } from 'vitest';
import {
  ADDON_MODE_LABEL,
  type AddonObject,
  addonModeOf,
  addonObjectName,
  checkAddonManifests,
  parseAddonManifests,
} from './manifests.js';

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

const configMap = (name: string, mode?: string) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
  namespace: kube-system
${mode === undefined ? '' : `  labels:\n    ${ADDON_MODE_LABEL}: ${mode}\n`}data:
  key: value
`;

describe('parseAddonManifests', () => {
  it('reads every document of a YAML stream, skipping empty ones and comments', () => {
    const text = `# leading comment\n---\n${configMap('a')}---\n# only a comment\n---   # separator with a comment\n${configMap('b')}\n---\n`;
    const objects = parseAddonManifests(text, 'two.yaml');
    expect(objects.map(addonObjectName)).toEqual(['ConfigMap/kube-system/a', 'ConfigMap/kube-system/b']);
    expect(objects[1]?.data).toEqual({ key: 'value' });
  });

  it('reads JSON', () => {
    const text = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'dns' },
      spec: { ports: [{ port: 53, targetPort: 'dns' }] },
    });
    const [service] = parseAddonManifests(text, 'dns.json');
    expect(addonObjectName(service as AddonObject)).toBe('Service/dns');
    expect(service?.spec).toMatchObject({ ports: [{ port: 53, targetPort: 'dns' }] });
  });

  it('unwraps a List into its items, typed like documents of their own', () => {
    const text = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one' }, data: { a: '1' } },
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'two', namespace: 'x' } },
      ],
    });
    const objects = parseAddonManifests(text, 'list.json');
    expect(objects.map(addonObjectName)).toEqual(['ConfigMap/one', 'Deployment/x/two']);
    expect(objects[0]?.constructor.name).toBe('V1ConfigMap');
  });

  it('keeps every field of a kind client-node has no model for', () => {
    const [widget] = parseAddonManifests(
      'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3, extra: {deep: true}}\n',
      'w.yaml',
    );
    expect(widget?.spec).toEqual({ size: 3, extra: { deep: true } });
  });

  it('names the source and the document of text that is not YAML, without quoting the text', () => {
    const secret = `apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  key: "-----BEGIN PRIVATE KEY-----\n  data: [unclosed\n`;
    const error = caught(() => parseAddonManifests(`${configMap('a')}---\n${secret}`, 'addons/bad.yaml'));
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    const { message, details } = error as { message: string; details: Record<string, unknown> };
    expect(message).toMatch(
      /^addons\/bad\.yaml, document 2: it is not valid YAML or JSON: .*\(line \d+ of the file\)\.$/,
    );
    expect(message).not.toContain('PRIVATE KEY');
    expect(details).toEqual({ field: 'manifest', source: 'addons/bad.yaml', document: 2 });
  });

  it.each([
    ['- 1\n- 2\n', /document 1: it is not a Kubernetes object/],
    ['kind: ConfigMap\nmetadata: {name: a}\n', /document 1: it has no apiVersion\./],
    ['apiVersion: v1\nmetadata: {name: a}\n', /document 1: it has no kind\./],
    [
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: a-}\n',
      /its ConfigMap has no metadata\.name/,
    ],
    [
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {v: 1}}\n',
      /metadata\.labels whose values/,
    ],
    ['null\n', /document 1: it is empty or not a mapping\./],
  ])('refuses %j', (text, problem) => {
    const error = caught(() => parseAddonManifests(text, 'x.yaml'));
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toMatch(problem);
  });

  it('names the item of a List that is not an object', () => {
    const text = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [{ apiVersion: 'v1', kind: 'ConfigMap' }],
    });
    const error = caught(() => parseAddonManifests(text, 'l.json'));
    expect((error as Error).message).toMatch(
      /^l\.json, document 1, item 1: its ConfigMap has no metadata\.name/,
    );
    expect((error as { details: unknown }).details).toMatchObject({ document: 1, item: 1 });
  });

  it('returns nothing for an empty file', () => {
    expect(parseAddonManifests('', 'empty.yaml')).toEqual([]);
    expect(parseAddonManifests('---\n# nothing\n', 'empty.yaml')).toEqual([]);
  });
});

describe('addonModeOf', () => {
  const object = (labels?: Record<string, string>): AddonObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'a', ...(labels ? { labels } : {}) },
  });

  it('reads Reconcile and EnsureExists, case and all', () => {
    expect(addonModeOf(object({ [ADDON_MODE_LABEL]: 'Reconcile' }))).toBe('Reconcile');
    expect(addonModeOf(object({ [ADDON_MODE_LABEL]: 'EnsureExists' }))).toBe('EnsureExists');
    expect(addonModeOf(object({ [ADDON_MODE_LABEL]: 'reconcile' }))).toBeUndefined();
  });

  it('gives no mode without the label, or for the deprecated cluster-service label alone', () => {
    expect(addonModeOf(object())).toBeUndefined();
    expect(addonModeOf(object({ 'kubernetes.io/cluster-service': 'true' }))).toBeUndefined();
  });
});

describe('checkAddonManifests', () => {
  it('accepts objects that all have a mode', () => {
    const objects = checkAddonManifests(
      `${configMap('a', 'Reconcile')}---\n${configMap('b', 'EnsureExists')}`,
      'ok',
    );
    expect(objects.map(addonModeOf)).toEqual(['Reconcile', 'EnsureExists']);
  });

  it('refuses an object without the mode label, naming it and its document', () => {
    const error = caught(() =>
      checkAddonManifests(`${configMap('a', 'Reconcile')}---\n${configMap('b')}`, 'in.yaml'),
    );
    expect(isHacpError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toBe(
      `in.yaml, document 2: ConfigMap/kube-system/b has no label ${ADDON_MODE_LABEL}, so the add-on manager would never apply it.`,
    );
    expect((error as { details: unknown }).details).toEqual({
      field: 'metadata.labels',
      source: 'in.yaml',
      document: 2,
      object: 'ConfigMap/kube-system/b',
    });
    expect((error as { actions: string[] }).actions[0]).toContain('Reconcile');
  });

  it('refuses an unknown mode', () => {
    const error = caught(() => checkAddonManifests(configMap('a', 'Always'), 'in.yaml'));
    expect((error as Error).message).toContain(`has ${ADDON_MODE_LABEL}=Always`);
  });
});
