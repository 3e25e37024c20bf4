import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readAddonFolder } from './folder.js';
import { addonObjectName } from './manifests.js';

const configMap = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}}\n`;

describe('readAddonFolder', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hacp-addons-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads *.yaml, *.yml and *.json files, subfolders too, in name order, and nothing else', async () => {
    mkdirSync(join(dir, 'dns'));
    mkdirSync(join(dir, 'a-sub'));
    writeFileSync(join(dir, 'b.yml'), configMap('b'));
    writeFileSync(join(dir, 'a.yaml'), `${configMap('a1')}---\n${configMap('a2')}`);
    writeFileSync(
      join(dir, 'c.json'),
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }),
    );
    writeFileSync(join(dir, 'dns', 'svc.yaml'), configMap('dns'));
    writeFileSync(join(dir, 'a-sub', 'x.yaml'), configMap('x'));
    writeFileSync(join(dir, 'README.md'), '# not a manifest');
    writeFileSync(join(dir, 'd.yaml.tmp'), 'not: [yaml');
    symlinkSync(join(dir, 'b.yml'), join(dir, 'e.yaml'));

    const folder = await readAddonFolder(dir);
    expect(folder.exists).toBe(true);
    expect(folder.problems).toEqual([]);
    expect(folder.files.map((f) => f.file)).toEqual([
      'a-sub/x.yaml',
      'a.yaml',
      'b.yml',
      'c.json',
      'dns/svc.yaml',
      'e.yaml',
    ]);
    expect(folder.files.flatMap((f) => f.objects).map(addonObjectName)).toEqual([
      'ConfigMap/x',
      'ConfigMap/a1',
      'ConfigMap/a2',
      'ConfigMap/b',
      'ConfigMap/c',
      'ConfigMap/dns',
      'ConfigMap/b',
    ]);
  });

  it('reports a bad file and still returns the others', async () => {
    writeFileSync(join(dir, 'a.yaml'), configMap('a'));
    writeFileSync(join(dir, 'b.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n');
    writeFileSync(join(dir, 'c.yaml'), configMap('c'));

    const folder = await readAddonFolder(dir);
    expect(folder.files.map((f) => f.file)).toEqual(['a.yaml', 'c.yaml']);
    expect(folder.problems).toEqual([
      {
        file: 'b.yaml',
        message:
          'b.yaml, document 1: its ConfigMap has no metadata.name (generateName is not enough: an add-on must have a stable name).',
      },
    ]);
  });

  it('reports a manifest name that is not a readable file', async () => {
    mkdirSync(join(dir, 'z.yaml.d'));
    symlinkSync(join(dir, 'z.yaml.d'), join(dir, 'z.yaml'));
    const folder = await readAddonFolder(dir);
    expect(folder.problems).toEqual([{ file: 'z.yaml', message: 'it cannot be read (EISDIR).' }]);
  });

  it('gives an empty set for a missing folder, and says it is missing', async () => {
    const folder = await readAddonFolder(join(dir, 'nowhere'));
    expect(folder).toEqual({ exists: false, files: [], problems: [] });
  });

  it('reports a path that is a file, not a folder', async () => {
    writeFileSync(join(dir, 'file'), '');
    const folder = await readAddonFolder(join(dir, 'file'));
    expect(folder.exists).toBe(true);
    expect(folder.problems).toEqual([{ file: '.', message: 'it cannot be read (ENOTDIR).' }]);
  });
});
