/** A VM process: an HTTP server on the instance's own internal IP, answering 200 on /healthz. */
const HEALTH_SERVER = `
const [ip, port] = process.argv.slice(1);
require('node:http').createServer((request, response) => {
  response.statusCode = request.url === '/healthz' ? 200 : 404;
  response.end('ok');
}).listen(Number(port), ip, () => console.log('health: listening on ' + ip + ':' + port));
process.on('SIGTERM', () => process.exit(0));
`;

/**
 * For the server's tests: a process of an `hacp-node-config` that serves `GET /healthz` (200) at
 * `ip:port`, as a replica's apiserver does for the target pool's health check, and prints
 * `health: listening on <ip>:<port>` once it listens.
 */
export function healthServerProcess(
  ip: string,
  port: number,
): { name: string; command: string; args: string[] } {
  return { name: 'health', command: process.execPath, args: ['-e', HEALTH_SERVER, ip, String(port)] };
}
