// The other side of the control endpoint: finds the runs of a queue by their sockets and asks each one.
import { readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import type { ControlReply, ControlRequest } from './protocol.js';
import { pidOfSocket, socketOf } from './place.js';

/** A run that answered. */
export interface RunReply {
  readonly pid: number;
  readonly reply: ControlReply;
}

/** Why no run could be asked. */
export class ControlUnreachable extends Error {}

/** Sends one request to every live run of the control folder; stale sockets (dead pid, refused) are removed and skipped. */
export async function askRuns(dir: string, request: ControlRequest): Promise<RunReply[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ControlUnreachable(`${dir} belongs to another user: only the user who started a run can steer it`);
    }
    throw error;
  }
  const pids = names.map(pidOfSocket).filter((p): p is number => p !== undefined);
  const replies = await Promise.all(pids.map(async (pid) => ({ pid, reply: await askOne(socketOf(dir, pid), pid, request) })));
  return replies.filter((r): r is RunReply => r.reply !== undefined);
}

/** Sends one request to the run with this pid only; undefined when it no longer listens. */
export async function askRun(dir: string, pid: number, request: ControlRequest, signal?: AbortSignal): Promise<ControlReply | undefined> {
  return askOne(socketOf(dir, pid), pid, request, signal);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One request and its reply; undefined for a stale socket (removed when its run is gone), or once `signal` gives up. */
function askOne(file: string, pid: number, request: ControlRequest, signal?: AbortSignal): Promise<ControlReply | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(file);
    signal?.addEventListener('abort', () => socket.destroy(), { once: true });
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      socket.destroy();
      try {
        resolve(JSON.parse(buffer.slice(0, newline)) as ControlReply);
      } catch {
        resolve({ ok: false, error: 'the run answered something that is not JSON' });
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EACCES' || error.code === 'EPERM') {
        reject(new ControlUnreachable(`the run pid ${pid} belongs to another user: only the user who started a run can steer it`));
      } else if (!alive(pid) || error.code === 'ECONNREFUSED' || error.code === 'ENOENT') {
        // A run that died without closing its socket: nothing listens, so the file is stale.
        if (!alive(pid)) void rm(file, { force: true }).catch(() => {});
        resolve(undefined);
      } else {
        reject(error);
      }
    });
    socket.on('close', () => resolve(undefined));
  });
}
