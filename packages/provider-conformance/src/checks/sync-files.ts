import assert from 'node:assert/strict';
import { type InstanceApi, type InstanceRef, type NodeFile, Secret } from '@hacp/core';
import { expectHacpError, expectSuccess } from '../assertions.js';
import type { CheckRegistry, Sandbox } from '../sandbox.js';
import type { InstanceFileContents } from '../types.js';

/** The folder the checks sync, as the SDK syncs add-on manifests. */
const PREFIX = 'addons';

type SyncFiles = NonNullable<InstanceApi['syncFiles']>;

/** The provider's syncFiles; the test skips itself where there is none (fails with the capability set). */
export function syncFilesOf(sandbox: Sandbox): SyncFiles {
  const { instances } = sandbox.provider;
  if (typeof instances.syncFiles === 'function') return instances.syncFiles.bind(instances);
  assert.ok(
    sandbox.capabilities.syncFiles !== true,
    'The syncFiles capability is set, but instances.syncFiles is missing.',
  );
  return sandbox.skip(
    'the provider does not offer instances.syncFiles',
    'pass capabilities.syncFiles: false to leave it out',
  );
}

/** A file as readFiles reports it: the Secret revealed, as on disk. */
function written(file: NodeFile): InstanceFileContents {
  const contents = typeof file.contents === 'string' ? file.contents : file.contents.reveal();
  return { path: file.path, mode: file.mode, contents };
}

const byPath = (files: readonly InstanceFileContents[]) =>
  [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

/**
 * A reader of what an instance holds under a folder, from `capabilities.readFiles`; undefined
 * without it. The root folder comes from allocateNetwork, which is idempotent by name.
 */
async function fileReader(
  sandbox: Sandbox,
  ref: InstanceRef & { cluster: string },
): Promise<((prefix: string) => Promise<InstanceFileContents[]>) | undefined> {
  const readFiles = sandbox.capabilities.readFiles;
  if (readFiles === undefined) return undefined;
  const { rootDir } = await sandbox.provider.instances.allocateNetwork(ref, {
    requestId: sandbox.requestId(),
  });
  return async (prefix) =>
    byPath(
      await readFiles({
        provider: sandbox.provider,
        ref: { name: ref.name, zone: ref.zone },
        rootDir,
        prefix,
      }),
    );
}

/**
 * The optional `instances.syncFiles`: NOT_FOUND for a missing instance; a path outside the prefix
 * is INVALID_ARGUMENT; repeating is fine; with `capabilities.readFiles`, the folder holds exactly
 * the files given, with their modes, others there are removed and files elsewhere stay.
 */
export function syncFilesChecks({ check, capabilities }: CheckRegistry): void {
  if (capabilities.syncFiles === false) return;

  check('syncFiles of a missing instance is NOT_FOUND', async (sandbox) => {
    const syncFiles = syncFilesOf(sandbox);
    const ref = { name: sandbox.instanceName(), zone: sandbox.zone };
    await expectHacpError(
      syncFiles(
        ref,
        { prefix: PREFIX, files: [{ path: `${PREFIX}/a.yaml`, mode: 0o644, contents: 'a' }] },
        {
          requestId: sandbox.requestId(),
        },
      ),
      'NOT_FOUND',
      `syncFiles of instance ${ref.name}, which was never created,`,
    );
  });

  check('syncFiles of a path outside the prefix is INVALID_ARGUMENT and writes nothing', async (sandbox) => {
    const syncFiles = syncFilesOf(sandbox);
    const instance = await sandbox.createInstance();
    const read = await fileReader(sandbox, instance);
    const elsewhere = sandbox.nodeConfig(instance.name).files[0]?.path.split('/')[0] ?? 'conformance';
    const before = await read?.(elsewhere);
    for (const path of [`${elsewhere}/outside.txt`, `${PREFIX}-other/a.yaml`, `${PREFIX}/../outside.txt`]) {
      await expectHacpError(
        syncFiles(
          instance,
          {
            prefix: PREFIX,
            files: [
              { path: `${PREFIX}/inside.yaml`, mode: 0o644, contents: 'inside' },
              { path, mode: 0o644, contents: 'outside' },
            ],
          },
          { requestId: sandbox.requestId() },
        ),
        'INVALID_ARGUMENT',
        `syncFiles with prefix ${PREFIX} of the path ${path}`,
      );
    }
    if (read === undefined) return;
    assert.deepEqual(await read(PREFIX), [], `A refused syncFiles wrote files under ${PREFIX}/.`);
    assert.deepEqual(
      await read(elsewhere),
      before,
      `A refused syncFiles changed the files under ${elsewhere}/.`,
    );
  });

  check('syncFiles repeated with the same files, or a new requestId, succeeds', async (sandbox) => {
    const syncFiles = syncFilesOf(sandbox);
    const instance = await sandbox.createInstance();
    const update = { prefix: PREFIX, files: [{ path: `${PREFIX}/a.yaml`, mode: 0o644, contents: 'a' }] };
    const requestId = sandbox.requestId();
    await expectSuccess(syncFiles(instance, update, { requestId }), `syncFiles of ${instance.name}`);
    await expectSuccess(
      syncFiles(instance, update, { requestId }),
      'repeating a successful syncFiles with its requestId',
    );
    await expectSuccess(
      syncFiles(instance, update, { requestId: sandbox.requestId() }),
      'syncFiles of the files the folder already holds',
    );
  });

  check(
    'syncFiles makes the folder hold exactly the files given, with their modes; files elsewhere stay',
    async (sandbox) => {
      const syncFiles = syncFilesOf(sandbox);
      const instance = await sandbox.createInstance();
      const read = await fileReader(sandbox, instance);
      if (read === undefined) {
        return sandbox.skip(
          'capabilities.readFiles is not given, so what syncFiles wrote cannot be seen',
          'give capabilities.readFiles, or pass capabilities.syncFiles: false',
        );
      }
      const elsewhere = sandbox.nodeConfig(instance.name).files[0]?.path.split('/')[0] ?? 'conformance';
      const before = await read(elsewhere);
      const first: NodeFile[] = [
        { path: `${PREFIX}/a.yaml`, mode: 0o644, contents: 'a: 1\n' },
        { path: `${PREFIX}/dns/b.yaml`, mode: 0o600, contents: new Secret('b: 1\n') },
      ];
      const second: NodeFile[] = [
        { path: `${PREFIX}/a.yaml`, mode: 0o600, contents: 'a: 2\n' },
        { path: `${PREFIX}/c.yaml`, mode: 0o644, contents: 'c: 1\n' },
      ];

      await syncFiles(instance, { prefix: PREFIX, files: first }, { requestId: sandbox.requestId() });
      assert.deepEqual(
        await read(PREFIX),
        byPath(first.map(written)),
        `After syncFiles, ${PREFIX}/ does not hold exactly the files given, with their modes.`,
      );
      await syncFiles(instance, { prefix: PREFIX, files: second }, { requestId: sandbox.requestId() });
      assert.deepEqual(
        await read(PREFIX),
        byPath(second.map(written)),
        `After a second syncFiles, ${PREFIX}/ does not hold exactly its files: a changed file or mode was not written, or a file no longer given was not removed.`,
      );
      await syncFiles(instance, { prefix: PREFIX, files: [] }, { requestId: sandbox.requestId() });
      assert.deepEqual(
        await read(PREFIX),
        [],
        `After syncFiles with no files, ${PREFIX}/ still holds files.`,
      );
      assert.deepEqual(
        await read(elsewhere),
        before,
        `syncFiles of ${PREFIX}/ changed the instance's files under ${elsewhere}/.`,
      );
    },
  );

  check('syncFiles with an already aborted signal is ABORTED and writes nothing', async (sandbox) => {
    const syncFiles = syncFilesOf(sandbox);
    const instance = await sandbox.createInstance();
    const read = await fileReader(sandbox, instance);
    await expectHacpError(
      syncFiles(
        instance,
        { prefix: PREFIX, files: [{ path: `${PREFIX}/a.yaml`, mode: 0o644, contents: 'a' }] },
        { requestId: sandbox.requestId(), signal: AbortSignal.abort() },
      ),
      'ABORTED',
      'syncFiles with an aborted signal',
    );
    if (read !== undefined) {
      assert.deepEqual(await read(PREFIX), [], `An aborted syncFiles wrote files under ${PREFIX}/.`);
    }
  });
}
