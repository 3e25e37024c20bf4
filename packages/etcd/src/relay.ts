/**
 * A loopback relay in front of one etcd member, so that hacp owns every socket to it.
 *
 * grpc-js cannot give up on a connection attempt: a member that accepts TCP but never answers the
 * TLS handshake (a stopped process, a hung host) keeps the attempt, and the socket under it, open
 * after the channel is closed, and node then never exits. Here gRPC connects to 127.0.0.1 and the
 * relay pipes the bytes (still TLS end to end, checked by gRPC) to the member, so hacp can cut a
 * connection the member never answered, and close everything at once.
 */
import { createServer, type Socket, connect as tcpConnect } from 'node:net';

/** One member's relay. */
export interface MemberRelay {
  /** The loopback port gRPC connects to. */
  readonly port: number;
  /** Why the last connection to the member failed (refused, reset, cut), until it answers again. */
  lastFailure(): Error | undefined;
  /**
   * Cuts every connection open for `minAgeMs` or more on which the member has not sent a byte:
   * gRPC then fails its calls as "no connection" instead of waiting on a handshake that is not
   * coming. `why` becomes `lastFailure()`. Returns how many were cut.
   */
  cutUnanswered(why: string, minAgeMs: number): number;
  /** Destroys every connection and stops listening. Idempotent. */
  close(): void;
}

interface RelayedConnection {
  downstream: Socket;
  upstream: Socket;
  answered: boolean;
  openedAt: number;
}

/**
 * Starts a relay on 127.0.0.1 (a port the system picks) to `host`:`port`. Its sockets are unref'd:
 * while gRPC has calls in flight its own end keeps the process alive, and an idle client does not.
 */
export function openRelay(target: { host: string; port: number }): Promise<MemberRelay> {
  const connections = new Set<RelayedConnection>();
  let failure: Error | undefined;
  let closed = false;
  const end = (connection: RelayedConnection) => {
    connections.delete(connection);
    connection.downstream.destroy();
    connection.upstream.destroy();
  };
  const server = createServer((downstream) => {
    downstream.unref();
    if (closed) {
      downstream.destroy();
      return;
    }
    const upstream = tcpConnect({ host: target.host, port: target.port });
    upstream.unref();
    // gRPC turns Nagle off on its own socket; the relay's two must too, or small requests wait
    // for delayed acknowledgements (40 ms each on Linux).
    downstream.setNoDelay(true);
    upstream.setNoDelay(true);
    const connection: RelayedConnection = { downstream, upstream, answered: false, openedAt: Date.now() };
    connections.add(connection);
    upstream.once('data', () => {
      connection.answered = true;
      failure = undefined;
    });
    upstream.on('error', (error) => {
      failure = error;
    });
    downstream.on('error', () => undefined);
    // Either side ending ends both: gRPC then sees the connection drop, as it would without us.
    upstream.once('close', () => end(connection));
    downstream.once('close', () => end(connection));
    downstream.pipe(upstream);
    upstream.pipe(downstream);
  });
  server.unref();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject);
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('the relay has no TCP address'));
        return;
      }
      resolve({
        port: address.port,
        lastFailure: () => failure,
        cutUnanswered(why, minAgeMs) {
          const openedBefore = Date.now() - minAgeMs;
          const unanswered = [...connections].filter(
            (connection) => !connection.answered && connection.openedAt <= openedBefore,
          );
          if (unanswered.length > 0) failure = new Error(why);
          for (const connection of unanswered) end(connection);
          return unanswered.length;
        },
        close() {
          if (closed) return;
          closed = true;
          server.close();
          for (const connection of [...connections]) end(connection);
        },
      });
    });
  });
}
