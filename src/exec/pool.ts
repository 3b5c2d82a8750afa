// SSH connections shared by the sub-nodes of a host: several channels per connection, more connections when they fill.
import { type Client, type ClientChannel } from 'ssh2';
import { TransportError } from '../errors.js';
import { heartbeat } from './heartbeat.js';
import { LineSplitter } from './lines.js';
import { connect } from './ssh.js';
import { remoteCommand } from './wrapper.js';
import { pauseWhileBehind, watchStop, type ExecRequest, type ExecResult, type Executor } from './types.js';

/** Channels per connection: sshd refuses channels well below its MaxSessions 10 when they churn (DESIGN). */
export const DEFAULT_MAX_SESSIONS = 4;

export interface PoolOptions {
  readonly configFile?: string;
  readonly maxSessions?: number;
}

interface Conn {
  readonly client: Client;
  active: number;
  alive: boolean;
  /** Set when the connection closed or failed; channels in flight report it. */
  lostWith?: TransportError;
}

/** Opens and shares SSH connections per host; the first connection of a host decides whether it is reachable. */
export class SshPool {
  private readonly options: PoolOptions;
  private readonly hosts = new Map<string, HostConnections>();

  constructor(options: PoolOptions = {}) {
    this.options = options;
  }

  /** An executor for a host, once its first connection is up; or why it cannot be reached. */
  async executorFor(host: string): Promise<{ executor: Executor } | { error: TransportError }> {
    let entry = this.hosts.get(host);
    if (!entry) {
      entry = new HostConnections(host, this.options);
      this.hosts.set(host, entry);
    }
    const error = await entry.ready;
    return error ? { error } : { executor: entry };
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    for (const entry of this.hosts.values()) entry.close();
  }
}

/** The connections of one host, used as that host's executor. */
class HostConnections implements Executor {
  private readonly host: string;
  private readonly options: PoolOptions;
  private readonly conns: Conn[] = [];
  private opening: Promise<Conn> | undefined;
  /** Resolves with undefined once connected, or with the reason the host cannot be reached. */
  readonly ready: Promise<TransportError | undefined>;

  constructor(host: string, options: PoolOptions) {
    this.host = host;
    this.options = options;
    this.ready = this.open().then(
      () => undefined,
      (error: unknown) => asTransportError(host, error),
    );
  }

  async run(request: ExecRequest): Promise<ExecResult> {
    const started = performance.now();
    let conn: Conn;
    try {
      conn = await this.acquire();
    } catch (error) {
      return { exitCode: null, signal: null, durationMs: performance.now() - started, transportError: asTransportError(this.host, error), cancelled: false };
    }
    try {
      return await runOnChannel(conn, this.host, request, started);
    } finally {
      conn.active -= 1;
    }
  }

  async reconnect(): Promise<TransportError | undefined> {
    if (this.conns.some((c) => c.alive)) return undefined;
    try {
      await (this.opening ?? this.open());
      return undefined;
    } catch (error) {
      return asTransportError(this.host, error);
    }
  }

  close(): void {
    for (const conn of this.conns) conn.client.end();
  }

  /** A live connection with a free channel, opening another one when all are full. */
  private async acquire(): Promise<Conn> {
    const max = this.options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    for (;;) {
      const free = this.conns.find((c) => c.alive && c.active < max);
      if (free) {
        free.active += 1;
        return free;
      }
      await (this.opening ?? this.open());
    }
  }

  private open(): Promise<Conn> {
    const opening = connect(this.host, this.options.configFile ? { configFile: this.options.configFile } : {}).then((client) => {
      const conn: Conn = { client, active: 0, alive: true };
      const lost = (reason: string): void => {
        if (!conn.alive) return;
        conn.alive = false;
        conn.lostWith = new TransportError(this.host, 'lost', `the connection to ${this.host} was lost (${reason})`);
      };
      client.on('close', () => lost('closed'));
      client.on('error', (error: Error) => lost(error.message));
      this.conns.push(conn);
      return conn;
    });
    this.opening = opening;
    const clear = (): void => {
      if (this.opening === opening) this.opening = undefined;
    };
    opening.then(clear, clear);
    return opening;
  }
}

function asTransportError(host: string, error: unknown): TransportError {
  if (error instanceof TransportError) return error;
  return new TransportError(host, 'other', `cannot connect to ${host}: ${(error as Error).message}`, { cause: error });
}

/** Runs one command on an exec channel of a connection and reports how it ended. */
function runOnChannel(conn: Conn, host: string, request: ExecRequest, started: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    conn.client.exec(remoteCommand(request.command), (error, channel: ClientChannel) => {
      if (error) {
        const transportError = conn.alive
          ? new TransportError(host, 'channel', `the ssh server refused a channel: ${error.message}`, { cause: error })
          : (conn.lostWith ?? new TransportError(host, 'lost', `the connection to ${host} was lost`));
        resolve({ exitCode: null, signal: null, durationMs: performance.now() - started, transportError, cancelled: false });
        return;
      }
      const out = new LineSplitter((line) => request.onLine('stdout', line));
      const err = new LineSplitter((line) => request.onLine('stderr', line));
      const streams = [channel, channel.stderr];
      channel.on('data', (chunk: Buffer) => {
        out.push(chunk);
        pauseWhileBehind(request, streams);
      });
      channel.stderr.on('data', (chunk: Buffer) => {
        err.push(chunk);
        pauseWhileBehind(request, streams);
      });
      let exitCode: number | null = null;
      let exitSignal: string | null = null;
      let exited = false;
      channel.on('exit', (code: number | null, signal?: string) => {
        exited = true;
        exitCode = code;
        exitSignal = signal ? `SIG${signal}` : null;
      });
      // Ending the channel's stdin tells the wrapper to stop the job's whole tree (sshd ignores
      // `signal` for root, and leaves the command running when the channel closes).
      const beat = heartbeat(channel);
      const detach = watchStop(request, beat.cancel);
      channel.on('close', () => {
        const { cancelled, timedOut } = detach();
        beat.stop();
        out.end();
        err.end();
        const durationMs = performance.now() - started;
        if (!exited && !cancelled && !timedOut) {
          const transportError = conn.lostWith ?? new TransportError(host, 'lost', `the channel to ${host} closed before the command finished`);
          resolve({ exitCode: null, signal: null, durationMs, transportError, cancelled });
          return;
        }
        resolve({ exitCode, signal: exitSignal, durationMs, cancelled, timedOut });
      });
    });
  });
}
