// A run's control endpoint: a Unix socket (mode 600 in a 700 folder) answering JSON-line requests; nothing a client sends can crash the run.
import { chmod, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import { asFileError } from '../errors.js';
import { parseRequest, type ControlReply, type ControlRequest } from './protocol.js';
import { socketOf } from './place.js';

/** Longest request line accepted; a client that sends more is answered with an error and dropped. */
const MAX_LINE = 64 * 1024;

export type ControlHandler = (request: ControlRequest) => Promise<ControlReply> | ControlReply;

/** A listening control socket. */
export class ControlServer {
  readonly path: string;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(file: string, server: net.Server) {
    this.path = file;
    this.server = server;
  }

  /** Listens on `<dir>/<pid>.sock`; the folder is made (or tightened to) mode 700 first, so the socket is never reachable by others. */
  static async listen(dir: string, handler: ControlHandler): Promise<ControlServer> {
    await mkdir(dir, { recursive: true, mode: 0o700 }).catch(asFileError(dir));
    await chmod(dir, 0o700).catch(asFileError(dir));
    const file = socketOf(dir, process.pid);
    // A socket left by an earlier process with our pid (pids are reused) is dead: nothing else can own this name.
    await rm(file, { force: true });
    const server = net.createServer();
    const control = new ControlServer(file, server);
    server.on('connection', (socket) => control.serve(socket, handler));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(file, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {}); // errors after listening concern one client, never the run
    await chmod(file, 0o600).catch(asFileError(file));
    return control;
  }

  private serve(socket: net.Socket, handler: ControlHandler): void {
    this.sockets.add(socket);
    socket.setEncoding('utf8');
    let buffer = '';
    let chain = Promise.resolve();
    const reply = (value: ControlReply): void => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(value)}\n`);
    };
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_LINE && !buffer.includes('\n')) {
        reply({ ok: false, error: 'the request line is too long' });
        socket.destroy();
        return;
      }
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.trim() === '') continue;
        // Requests of one client are answered in order.
        chain = chain.then(async () => {
          const request = parseRequest(line);
          if (typeof request === 'string') return reply({ ok: false, error: request });
          try {
            reply(await handler(request));
          } catch (error) {
            reply({ ok: false, error: error instanceof Error ? error.message : String(error) });
          }
        });
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
  }

  /** Stops listening and removes the socket. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.path, { force: true });
  }
}
