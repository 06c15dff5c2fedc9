import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

/**
 * Forwards TCP from a port on 127.0.0.1 to `target` while open, for outage tests against a
 * shared server that must not be stopped: point the client at the relay, then `close()` cuts
 * every connection and refuses new ones (the server looks down), and `open(relay.port)` brings
 * it back on the same port.
 */
export class TcpRelay {
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  /** The port it listens on once opened (the one asked for, or a free one). */
  port = 0;

  constructor(readonly target: { host: string; port: number }) {}

  async open(port = 0): Promise<void> {
    const server = createServer((client) => {
      const upstream = tcpConnect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.#server = server;
    this.port = (server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    this.#server = undefined;
  }
}
