import { connect, createServer, type Socket } from 'node:net';

/** A loopback TCP proxy to `targetPort` that holds each new connection for `delayMs` before relaying. */
export async function delayingProxy(targetPort: number, delayMs: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((incoming) => {
    sockets.add(incoming);
    incoming.pause();
    const timer = setTimeout(() => {
      const outgoing = connect(targetPort, '127.0.0.1');
      sockets.add(outgoing);
      incoming.pipe(outgoing).pipe(incoming);
      incoming.resume();
      const end = () => {
        incoming.destroy();
        outgoing.destroy();
      };
      incoming.on('error', end).on('close', end);
      outgoing.on('error', end).on('close', end);
    }, delayMs);
    incoming.on('close', () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
