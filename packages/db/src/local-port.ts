import { createServer } from 'node:net';

/** Binds 127.0.0.1:port for a moment: the port that is free, or null when it is taken. */
function tryListen(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : null;
      server.close(() => resolve(bound));
    });
  });
}

/** `preferred` if nothing listens there, else a port the OS picks. */
export async function pickLocalPort(preferred: number): Promise<number> {
  const port = (await tryListen(preferred)) ?? (await tryListen(0));
  if (port === null) throw new Error('Could not find a free TCP port on 127.0.0.1');
  return port;
}
