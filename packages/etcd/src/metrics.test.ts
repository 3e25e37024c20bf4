import { describe, expect, it } from 'vitest';
import { activePeer, snapshotsInFlightTo } from './metrics.js';

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

describe('activePeer', () => {
  // As etcd 3.4.23 shows them on the leader: two voters, and a learner whose process reached it.
  const leader = `# TYPE etcd_network_active_peers gauge
etcd_network_active_peers{Local="88d97a7b2ca8a6eb",Remote="183e5f9c06e206fb"} 1
etcd_network_active_peers{Local="88d97a7b2ca8a6eb",Remote="6b61c50fca04444d"} 1
etcd_network_active_peers{Local="88d97a7b2ca8a6eb",Remote="2d8e5435bffd916"} 0
`;

  it('is true for a peer with an active connection, by its hex id', () => {
    expect(activePeer(leader, BigInt('0x6b61c50fca04444d').toString())).toBe(true);
  });

  it('is false for a disconnected peer, an unknown one, and no metrics', () => {
    expect(activePeer(leader, BigInt('0x2d8e5435bffd916').toString())).toBe(false);
    expect(activePeer(leader, '12345')).toBe(false);
    expect(activePeer('', BigInt('0x6b61c50fca04444d').toString())).toBe(false);
  });
});
