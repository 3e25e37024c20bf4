import { Flags } from '@oclif/core';
import { HacpCommand } from '../../base-command.js';
import type { CliWarning } from '../../envelope.js';
import { type CertificatesResult, plural, renderCertificates } from '../../render.js';

export default class CertsCheck extends HacpCommand<typeof CertsCheck, CertificatesResult> {
  static override summary = "Show every certificate's expiry, and what each replica serves.";

  static override description =
    "Lists the CAs and every leaf certificate of the cluster PKI (the operator's copy) with its serial and the days left; a certificate within --warn-within-days of its end is `expiring`, and each expiring or expired one is also a warning. Then reads, over TLS, what each replica serves on its etcd client and peer ports and kube-apiserver's port (where it runs), with the serial and end of each; a replica that serves another certificate than the operator's copy is a CERTIFICATE_NOT_ROLLED warning (`hacp certs renew` rolls the copy on).";

  static override examples = [
    { description: 'The default window.', command: '<%= config.bin %> certs check' },
    {
      description: 'Warn 90 days ahead, as JSON.',
      command: '<%= config.bin %> certs check --warn-within-days 90 --json',
    },
  ];

  static override flags = {
    'warn-within-days': Flags.integer({
      summary: 'Call a certificate expiring this many days before its end.',
      description: 'Default: 30.',
      min: 0,
      helpValue: '<days>',
    }),
  };

  async run() {
    const days = this.flags['warn-within-days'];
    const controlPlane = await this.controlPlane();
    const certificates = await controlPlane.certs.check(days === undefined ? {} : { warnWithinDays: days });
    const served = await controlPlane.certs.served({ signal: this.signal });
    return { certificates, served };
  }

  protected override resultWarnings(result: CertificatesResult): CliWarning[] {
    const notRolled = result.served
      .filter((entry) => entry.error === undefined && !entry.matches)
      .map(
        (entry): CliWarning => ({
          code: 'CERTIFICATE_NOT_ROLLED',
          message: `${entry.replica} serves a certificate with serial ${entry.serial} on its ${entry.port} port, not the operator's copy of ${entry.certificate} (serial ${entry.operatorSerial ?? 'none'}); run \`hacp certs renew\` to roll the copy onto the replicas.`,
        }),
      );
    return [...this.expiryWarnings(result), ...notRolled];
  }

  private expiryWarnings(result: CertificatesResult): CliWarning[] {
    return result.certificates.flatMap((certificate): CliWarning[] => {
      const what = certificate.isCa
        ? `CA certificate ${certificate.name}`
        : `Certificate ${certificate.name}`;
      const renew = certificate.isCa
        ? '`hacp certs renew` reissues leaves only, from this CA, and hacp cannot replace a CA yet: before it ends, create a new cluster (`hacp up --cluster <name>`) and move the workloads to it'
        : 'run `hacp certs renew`, which reissues it and rolls it onto the replicas';
      switch (certificate.status) {
        case 'expiring':
          return [
            {
              code: 'CERTIFICATE_EXPIRING',
              message: `${what} expires in ${plural(certificate.daysLeft, 'day')} (${certificate.notAfter}); ${renew}.`,
            },
          ];
        case 'expired':
          return [
            {
              code: 'CERTIFICATE_EXPIRED',
              message: `${what} expired on ${certificate.notAfter}; ${renew}.`,
            },
          ];
        case 'not-yet-valid':
          return [
            {
              code: 'CERTIFICATE_NOT_YET_VALID',
              message: `${what} is not valid yet; check this machine's clock.`,
            },
          ];
        default:
          return [];
      }
    });
  }

  protected override renderText(result: CertificatesResult): string {
    return renderCertificates(result);
  }
}
