// A stand-in for kube-apiserver's secure port, run as a replica process by readiness.integ.test.ts:
// HTTPS on <host>:<port> with tls/server.{crt,key} from the replica root (its working folder).
// /readyz answers 200 while the file `ready` exists there and 500 otherwise, as a starting
// kube-apiserver does; every other path answers the replica's name whether ready or not, as
// kube-apiserver serves requests before it is ready.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [host, port, name] = process.argv.slice(2);
const server = createServer(
  { cert: readFileSync('tls/server.crt'), key: readFileSync('tls/server.key') },
  (request, response) => {
    if (request.url === '/readyz') {
      const ready = existsSync('ready');
      response.writeHead(ready ? 200 : 500, { 'content-type': 'text/plain' });
      response.end(ready ? 'ok\n' : 'not ready\n');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
    response.end(`${name}\n`);
  },
);
server.listen(Number(port), host);
process.on('SIGTERM', () => process.exit(0));
