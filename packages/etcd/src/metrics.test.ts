import { describe, expect, it } from 'vitest';
import { snapshotsInFlightTo } from './metrics.js';

const sample = `# HELP etcd_network_snapshot_send_inflights_total Total number of inflight snapshot sends
# TYPE etcd_network_snapshot_send_inflights_total gauge
etcd_network_snapshot_send_inflights_total{To="91bc3c398fb3c146"} 1
etcd_network_snapshot_send_inflights_total{To="fd422379fda50e48"} 0
etcd_network_peer_sent_bytes_total{To="91bc3c398fb3c146"} 4.1e+06
`;

describe('snapshotsInFlightTo', () => {
  it("reads the leader's in-flight snapshot gauge for one member, by its hex id", () => {
    expect(snapshotsInFlightTo(sample, '10501334649042878790')).toBe(1);
    expect(snapshotsInFlightTo(sample, BigInt('0xfd422379fda50e48').toString())).toBe(0);
  });

  it('is 0 for a member it does not name, and for no metrics at all', () => {
    expect(snapshotsInFlightTo(sample, '12345')).toBe(0);
    expect(snapshotsInFlightTo('', '10501334649042878790')).toBe(0);
  });
});
