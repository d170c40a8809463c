/**
 * The only way out of a sandbox with network: the sandbox keeps its own network namespace (just
 * a loopback device), so the runner's egress proxy is reachable only as a unix socket bound into
 * it. Tools expect an HTTP proxy at host:port, so this tiny program, run by node as the
 * sandbox's first process, listens on 127.0.0.1:EGRESS_PORT inside the sandbox, relays every
 * connection to the socket, and runs the command. It is passed to bwrap as data (not a file of
 * this package), so it works the same from source and from a bundled server.
 */
export const EGRESS_PORT = 3128;
export const EGRESS_SOCKET = '/run/ccl/egress.sock';
export const FORWARDER_PATH = '/run/ccl/egress-forwarder.cjs';

export const FORWARDER_SOURCE = `'use strict';
const net = require('node:net');
const { spawn } = require('node:child_process');
const { constants } = require('node:os');
const [socketPath, port, file, ...args] = process.argv.slice(2);
const server = net.createServer((client) => {
  const upstream = net.connect(socketPath);
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.on('error', (err) => {
  process.stderr.write('sandbox: egress forwarder: ' + err.message + '\\n');
  process.exit(125);
});
server.listen(Number(port), '127.0.0.1', () => {
  const child = spawn(file, args, { stdio: 'inherit' });
  child.on('error', (err) => {
    process.stderr.write('sandbox: cannot start ' + file + ': ' + err.message + '\\n');
    process.exit(127);
  });
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] || 0)));
});
`;
