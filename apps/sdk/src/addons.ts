/**
 * The cluster's add-ons: a folder of manifests on the operator's machine (`<dataDir>/addons`), copied
 * to every replica's `addons/` folder, where its add-on manager keeps them applied on its own
 * (kube-addon-manager's Reconcile and EnsureExists modes). @hacp/addon-manager parses them; it is
 * loaded only when add-ons are read, since it brings the Kubernetes client.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ErrorCode, HacpError, type NodeFile } from '@hacp/core';
import { KUBERNETES_FILES } from './kubernetes/components.js';
import type { AddonFile } from './types.js';

const addonManager = () => import('@hacp/addon-manager');

const MANIFEST = /\.(ya?ml|json)$/;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*\.(ya?ml|json)$/;

async function manifestNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => MANIFEST.test(name)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** The add-on manifests as the files of a replica's `addons/` folder. */
export async function readAddonFiles(dir: string): Promise<NodeFile[]> {
  const files: NodeFile[] = [];
  for (const name of await manifestNames(dir)) {
    files.push({
      path: `${KUBERNETES_FILES.addonsDir}/${name}`,
      mode: 0o644,
      contents: await readFile(join(dir, name), 'utf8'),
    });
  }
  return files;
}

async function describe(name: string, text: string, check: boolean): Promise<AddonFile> {
  const { addonModeOf, checkAddonManifests, parseAddonManifests } = await addonManager();
  const objects = (check ? checkAddonManifests : parseAddonManifests)(text, name);
  return {
    file: name,
    objects: objects.flatMap((object) => {
      const mode = addonModeOf(object);
      if (mode === undefined) return [];
      return [
        {
          kind: object.kind,
          name: object.metadata.name,
          ...(object.metadata.namespace === undefined ? {} : { namespace: object.metadata.namespace }),
          mode,
        },
      ];
    }),
  };
}

/** Every manifest file of the folder with the objects it holds. */
export async function listAddons(dir: string): Promise<AddonFile[]> {
  const result: AddonFile[] = [];
  for (const name of await manifestNames(dir)) {
    result.push(await describe(name, await readFile(join(dir, name), 'utf8'), false));
  }
  return result;
}

function badName(name: string): HacpError {
  return new HacpError({
    code: ErrorCode.INVALID_ARGUMENT,
    message: `An add-on file must be named like <name>.yaml, .yml or .json, with letters, digits, dots, dashes and underscores; "${name}" is not.`,
    actions: ['Rename the file, then run `hacp addons apply -f` again.'],
    details: { field: 'file', value: name },
  });
}

/**
 * Checks every file, then writes them into the folder (atomically, 0644 in a 0700 folder). Nothing
 * is written when any file fails its check.
 *
 * @throws HacpError INVALID_ARGUMENT for a bad name or manifest.
 */
export async function addAddons(
  dir: string,
  files: readonly { name: string; text: string }[],
): Promise<AddonFile[]> {
  const checked: AddonFile[] = [];
  for (const file of files) {
    const name = basename(file.name);
    if (!FILE_NAME.test(name)) throw badName(file.name);
    checked.push(await describe(name, file.text, true));
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const [index, file] of files.entries()) {
    const target = join(dir, (checked[index] as AddonFile).file);
    const temporary = `${target}.${process.pid}.tmp`;
    await writeFile(temporary, file.text, { mode: 0o644 });
    await rename(temporary, target).catch(async (error) => {
      await rm(temporary, { force: true });
      throw error;
    });
  }
  return checked;
}
