#!/usr/bin/env node
// A stand-in for gcloud in tests: `compute start-iap-tunnel <name> <port> --local-host-port=localhost:<p>`
// and `compute ssh <name> ... -- -N -L 127.0.0.1:<p>:<ip>:<port>` listen on 127.0.0.1:<p> and forward
// every connection to the target in target.json next to this script. Each call is appended to
// calls.jsonl. With `{ "fail": "text" }` as target it writes the text to stderr and exits 1.
import { appendFileSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
appendFileSync(join(here, 'calls.jsonl'), `${JSON.stringify({ pid: process.pid, args })}\n`);
const target = JSON.parse(readFileSync(join(here, 'target.json'), 'utf8'));
if (target.fail) {
  process.stderr.write(`${target.fail}\n`);
  process.exit(1);
}
if (target.hang) {
  // Starts, says nothing and never listens, as a tunnel stuck on its handshake would.
  setInterval(() => undefined, 60_000);
} else {
  serve();
}

function serve() {
  let localPort;
  if (args[0] === 'compute' && args[1] === 'start-iap-tunnel') {
    localPort = Number(
      /^--local-host-port=localhost:(\d+)$/.exec(
        args.find((arg) => arg.startsWith('--local-host-port=')) ?? '',
      )?.[1],
    );
  } else if (args[0] === 'compute' && args[1] === 'ssh') {
    localPort = Number(/^127\.0\.0\.1:(\d+):/.exec(args[args.indexOf('-L') + 1] ?? '')?.[1]);
  }
  if (!Number.isInteger(localPort) || localPort <= 0) {
    process.stderr.write(`fake gcloud: cannot parse ${args.join(' ')}\n`);
    process.exit(2);
  }
  const server = createServer((socket) => {
    const upstream = createConnection({ host: target.host, port: target.port });
    socket.pipe(upstream).pipe(socket);
    const end = () => {
      socket.destroy();
      upstream.destroy();
    };
    socket.on('error', end);
    upstream.on('error', end);
  });
  server.listen(localPort, '127.0.0.1');
  // A tunnel outlives nothing: when the process that started it is gone, so is it.
  const parent = process.ppid;
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      process.exit(0);
    }
  }, 500).unref();
  process.on('SIGTERM', () => process.exit(0));
}
