/**
 * The floor of any Node HTTP service on this machine: a bare `node:http` server, no framework, answering
 * every POST with fixed bytes once it has read the request body. The H0 probe drives it with the same
 * driver and the same request as F0, so F0 ÷ H0 is what express, Apollo and the server's own plumbing
 * cost per request, whatever the machine.
 *
 * Run as its own process: `node bare-http-server.js <port> <response body>`; it prints `ready` when it
 * listens and stops on SIGTERM.
 */
import http from 'node:http';

const [portArgument, body] = process.argv.slice(2);
if (!portArgument || body === undefined) {
  process.stderr.write('usage: bare-http-server <port> <response body>\n');
  process.exit(2);
}
const response = Buffer.from(body, 'utf8');
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(response.length) };

const server = http.createServer((request, reply) => {
  // Read the body as the real server must before it can answer; the bytes themselves do not matter.
  request.on('data', () => {});
  request.on('end', () => {
    reply.writeHead(200, headers);
    reply.end(response);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(portArgument), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
