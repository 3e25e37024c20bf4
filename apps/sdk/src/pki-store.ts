/**
 * The cluster PKI on the operator's machine (`<dataDir>/pki`, 0700, keys 0600): the CA keys never go
 * to the provider's state store.
 */
import { access, chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CA_KEY_LIST, type ClusterPki, hasPki, loadPki, previousCaKey, writePki } from '@hacp/certs';
import { ErrorCode, HacpError } from '@hacp/core';
import type { ClusterRecord } from './record.js';

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Whether every CA the record names is the PKI's. Mid-rotation (`certs rotate-ca`) the record names
 * the CA being replaced until the rotation's last phase, which the PKI keeps as the previous one.
 */
function namesThisPki(record: ClusterRecord, pki: ClusterPki): boolean {
  return CA_KEY_LIST.every((key) => {
    const named = record.caCertificates[key];
    return named === undefined || named === pki[key].certPem || named === pki[previousCaKey(key)];
  });
}

export class PkiStore {
  readonly dir: string;
  #cached: ClusterPki | undefined;

  constructor(readonly dataDir: string) {
    this.dir = join(dataDir, 'pki');
  }

  /** Forgets what was read: another process may have changed the folder since. */
  forget(): void {
    this.#cached = undefined;
  }

  async exists(): Promise<boolean> {
    return hasPki(this.dir);
  }

  /** The PKI, checked against the record's CA certificates when there is a record. */
  async load(record?: ClusterRecord): Promise<ClusterPki> {
    if (this.#cached === undefined) {
      if (!(await hasPki(this.dir))) {
        throw new HacpError({
          code: ErrorCode.STATE_CORRUPT,
          message: `The cluster's PKI is missing from ${this.dir}; hacp cannot reach etcd without its client certificate.`,
          actions: [
            'Restore the folder from a backup, or pass the --state-dir the cluster was created with.',
          ],
          details: { dir: this.dir },
        });
      }
      const pki = await loadPki(this.dir);
      // A folder written before the control plane's client certificates existed: loadPki issued
      // them in memory; keep them, so that every replica gets the same ones.
      if (!(await exists(join(this.dir, 'pki', 'controller-manager.crt')))) await writePki(this.dir, pki);
      this.#cached = pki;
    }
    const pki = this.#cached;
    if (record !== undefined && !namesThisPki(record, pki)) {
      throw new HacpError({
        code: ErrorCode.STATE_CORRUPT,
        message: `The PKI in ${this.dir} belongs to another cluster than ${record.cluster}'s record.`,
        actions: ['Pass the --state-dir the cluster was created with.'],
        details: { dir: this.dir },
      });
    }
    return pki;
  }

  async loadIfPresent(record?: ClusterRecord): Promise<ClusterPki | undefined> {
    return (await this.exists()) ? this.load(record) : undefined;
  }

  async save(pki: ClusterPki): Promise<void> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    await chmod(this.dataDir, 0o700);
    await writePki(this.dir, pki);
    this.#cached = pki;
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    this.#cached = undefined;
  }
}
