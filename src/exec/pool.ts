// SSH connections shared by the sub-nodes of a host: several channels per connection, more connections when they fill.
import type { Client, ClientChannel } from 'ssh2';
import { TransportError } from '../errors.js';
import { ChannelBudget } from './channel-budget.js';
import { HostGuard } from './guard.js';
import { heartbeat } from './heartbeat.js';
import { LineSplitter } from './lines.js';
import { refuseNul } from './nul.js';
import type { Link } from './link.js';
import { connect } from './ssh.js';
import { commandLine, type Dialect } from './login-shell.js';
import { remoteCommand } from './wrapper.js';
import { pauseWhileBehind, watchStop, type ExecRequest, type ExecResult, type Executor } from './types.js';

/** Channels per connection: sshd refuses channels well below its MaxSessions 10 when they churn (issue 7 measured 8: ~80 refusals per 400 jobs; 2-4: none). */
export const DEFAULT_MAX_SESSIONS = 4;
/** SSH handshakes in flight at once, over all hosts: under sshd's MaxStartups 10:30:100, which drops connections past 10 unauthenticated ones. */
export const DEFAULT_MAX_STARTUPS = 8;
/** A channel refused this many times in a row is reported as a transport failure (the job is retried like one). */
const MAX_REFUSALS = 10;
/** After another connection to a host failed to open while others work, wait this long before trying to add one again. */
const GROW_PAUSE_MS = 5000;

export interface PoolOptions {
  readonly configFile?: string;
  readonly maxSessions?: number;
  readonly maxStartups?: number;
}

interface Conn {
  readonly client: Client;
  /** The transport under the client: liveness deadline, bounded hang-up. */
  readonly link: Link;
  active: number;
  /** Channels this connection may carry now: maxSessions, lowered when sshd refuses one, probed again after runs of successes. */
  readonly budget: ChannelBudget;
  alive: boolean;
  /** Set when the connection closed or failed; channels in flight report it. */
  lostWith?: TransportError;
  /** Stops this connection's jobs as trees; without one (a host that cannot run it) each job runs in the per-job wrapper. */
  guard?: HostGuard;
  /** How the login shell must be sent command lines (issue 13); 'portable' when the probe could not tell. */
  dialect: Dialect;
}

/** Opens and shares SSH connections per host; the first connection of a host decides whether it is reachable. */
export class SshPool {
  private readonly options: PoolOptions;
  private readonly hosts = new Map<string, HostConnections>();
  private readonly startups: Semaphore;

  constructor(options: PoolOptions = {}) {
    this.options = options;
    this.startups = new Semaphore(options.maxStartups ?? DEFAULT_MAX_STARTUPS);
  }

  /** An executor for a host, once its first connection is up; or why it cannot be reached. Hosts connect in parallel, at most maxStartups handshakes at once. */
  async executorFor(host: string): Promise<{ executor: Executor } | { error: TransportError }> {
    let entry = this.hosts.get(host);
    if (!entry) {
      entry = new HostConnections(host, this.options, this.startups);
      this.hosts.set(host, entry);
    }
    const error = await entry.ready;
    return error ? { error } : { executor: entry };
  }

  /** Closes one host's connections (drained or removed, issue 14); its next use connects afresh. */
  async hangUp(host: string): Promise<void> {
    const entry = this.hosts.get(host);
    if (!entry) return;
    this.hosts.delete(host);
    await entry.close();
  }

  /** Closes every connection, in bounded time whatever the hosts do (issue 13); connections still opening are abandoned. */
  async close(): Promise<void> {
    await Promise.all([...this.hosts.values()].map((entry) => entry.close()));
  }
}

/** A counting semaphore: at most `size` holders at once, served in order. */
class Semaphore {
  private free: number;
  private readonly queue: (() => void)[] = [];

  constructor(size: number) {
    this.free = Math.max(1, size);
  }

  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.queue.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.free += 1;
    }
  }
}

/** The connections of one host, used as that host's executor. */
class HostConnections implements Executor {
  private readonly host: string;
  private readonly options: PoolOptions;
  private readonly startups: Semaphore;
  private readonly max: number;
  private readonly conns: Conn[] = [];
  private opening = 0;
  private waiting = 0;
  /** What the last refusal taught about this sshd; a new connection starts from it. */
  private learnt: ChannelBudget;
  private growAfter = 0;
  private lastOpenError: TransportError | undefined;
  private wakers: (() => void)[] = [];
  /** Set by close(): a connection that finishes opening afterwards is ended at once. */
  private closed = false;
  /** Aborted by close(): handshakes in flight are given up. */
  private readonly closing = new AbortController();
  /** Every connection that is open or setting up its guard: close() hangs them all up. */
  private readonly links = new Set<Link>();
  /** Resolves with undefined once connected, or with the reason the host cannot be reached. */
  readonly ready: Promise<TransportError | undefined>;

  constructor(host: string, options: PoolOptions, startups: Semaphore) {
    this.host = host;
    this.options = options;
    this.startups = startups;
    this.max = Math.max(1, options.maxSessions ?? DEFAULT_MAX_SESSIONS);
    this.learnt = new ChannelBudget(this.max);
    this.ready = this.open().then(
      () => undefined,
      (error: unknown) => asTransportError(host, error),
    );
  }

  async run(request: ExecRequest): Promise<ExecResult> {
    // sshd hands the command to the login shell as a C string, which would end at the NUL.
    const refused = refuseNul(request);
    if (refused) return refused;
    const started = performance.now();
    for (let refusals = 0; ; ) {
      let conn: Conn | undefined;
      try {
        conn = await this.acquire(request.signal);
      } catch (error) {
        return { exitCode: null, signal: null, durationMs: performance.now() - started, transportError: asTransportError(this.host, error), cancelled: false };
      }
      // Cancelled while waiting for a channel: it never started, so it is simply not run.
      if (!conn) return { exitCode: null, signal: null, durationMs: performance.now() - started, cancelled: true };
      let refused = false;
      try {
        const result = await runOnChannel(conn, this.host, request, started);
        // A refused channel on a live connection is sshd saying "not so many at once": wait for a
        // free channel, or use another connection; never a job failure (issue 7).
        refused = result.transportError?.reason === 'channel' && conn.alive;
        if (!refused || ++refusals >= MAX_REFUSALS) return result;
      } finally {
        this.release(conn, refused);
      }
    }
  }

  async reconnect(signal?: AbortSignal): Promise<TransportError | undefined> {
    if (this.conns.some((c) => c.alive)) return undefined;
    try {
      await this.open(signal);
      return undefined;
    } catch (error) {
      return asTransportError(this.host, error);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    for (const conn of this.conns) conn.guard?.close();
    await Promise.all([...this.links].map((link) => link.hangUp()));
  }

  /**
   * A live connection with a free channel; opens more connections (in parallel) while those
   * opening cannot serve everyone waiting. Undefined when `signal` aborts first.
   */
  private async acquire(signal?: AbortSignal): Promise<Conn | undefined> {
    for (;;) {
      if (signal?.aborted) return undefined;
      const free = this.conns.find((c) => c.alive && c.active < c.budget.limit);
      if (free) {
        free.active += 1;
        return free;
      }
      const alive = this.conns.some((c) => c.alive);
      if (this.opening * this.learnt.limit <= this.waiting && (!alive || Date.now() >= this.growAfter)) {
        this.open().catch(() => undefined); // the outcome wakes the waiters
      }
      if (!alive && this.opening === 0 && this.lastOpenError) throw this.lastOpenError;
      this.waiting += 1;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.wakers.push(done);
        signal?.addEventListener('abort', done, { once: true });
      });
      this.waiting -= 1;
      if (!this.conns.some((c) => c.alive) && this.opening === 0 && this.lastOpenError) throw this.lastOpenError;
    }
  }

  /** A channel of `conn` ended (or was refused): what it teaches the budget, then its slot is free again. */
  private release(conn: Conn, refused: boolean): void {
    if (refused) {
      const noRoom = conn.budget.refused(conn.active - 1);
      this.learnt = conn.budget;
      const guard = conn.guard;
      if (noRoom && guard?.alive && conn.active === 1) {
        // sshd has no session for a job beside the guard's (MaxSessions 1): the guard gives its
        // session up, and this connection's jobs run in the per-job wrapper, which stops them as
        // trees too. Its slot frees once sshd has read the guard's close.
        delete conn.guard;
        void guard.retire().then(() => this.freeAfterAnswer(conn));
        return;
      }
    } else conn.budget.succeeded();
    // Once sshd has refused channels here it runs near its MaxSessions: a channel that just closed
    // (or was refused) holds its session until sshd has read what came before, and a channel opened
    // at once would be refused. The slot frees once sshd has answered a request sent after it.
    if (conn.alive && conn.budget.limit < this.max) this.freeAfterAnswer(conn);
    else this.free(conn);
  }

  private freeAfterAnswer(conn: Conn): void {
    void conn.link.answered().then(() => this.free(conn));
  }

  private free(conn: Conn): void {
    conn.active -= 1;
    this.wake();
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const wake of wakers) wake();
  }

  private async open(signal?: AbortSignal): Promise<Conn> {
    this.opening += 1;
    try {
      const abort = signal ? AbortSignal.any([this.closing.signal, signal]) : this.closing.signal;
      const link = await this.startups.use(() => connect(this.host, { ...(this.options.configFile ? { configFile: this.options.configFile } : {}), signal: abort }));
      const client = link.client;
      this.links.add(link);
      void link.closed.then(() => this.links.delete(link));
      const conn: Conn = { client, link, active: 0, budget: this.learnt.copy(), alive: true, dialect: 'portable' };
      const lost = (reason: string): void => {
        if (!conn.alive) return;
        conn.alive = false;
        conn.lostWith = new TransportError(this.host, 'lost', `the connection to ${this.host} was lost (${reason})`);
        this.conns.splice(this.conns.indexOf(conn), 1);
        this.wake();
      };
      client.on('close', () => lost(link.lostReason ?? 'closed'));
      client.on('error', (error: Error) => lost(error.message));
      // A guard that ends by itself has stopped its jobs (the link was silent) or was killed: the
      // connection can no longer stop jobs, so it is dropped and its jobs count as lost.
      let started: Awaited<ReturnType<typeof HostGuard.start>>;
      try {
        started = await HostGuard.start(client, this.host, () => {
          lost('the host guard on it ended');
          void link.hangUp();
        });
      } catch (error) {
        void link.hangUp(); // the login shell runs nothing of ours: the host is reported, no job goes there
        throw error;
      }
      const guard = started.guard;
      if (guard) conn.guard = guard;
      if (started.dialect) conn.dialect = started.dialect;
      if (this.closed) {
        guard?.close();
        void link.hangUp();
        throw new TransportError(this.host, 'other', `the run ended while a connection to ${this.host} was opening`);
      }
      this.conns.push(conn);
      this.lastOpenError = undefined;
      return conn;
    } catch (error) {
      this.lastOpenError = asTransportError(this.host, error);
      // Others still work: carry on with them, and try to add a connection again later.
      this.growAfter = Date.now() + GROW_PAUSE_MS;
      throw error;
    } finally {
      this.opening -= 1;
      this.wake();
    }
  }
}

function asTransportError(host: string, error: unknown): TransportError {
  if (error instanceof TransportError) return error;
  return new TransportError(host, 'other', `cannot connect to ${host}: ${(error as Error).message}`, { cause: error });
}

/** Runs one command on an exec channel of a connection and reports how it ended. */
function runOnChannel(conn: Conn, host: string, request: ExecRequest, started: number): Promise<ExecResult> {
  // Under a live guard: the guard, and the job's command line and token with it.
  const guarded = conn.guard?.alive ? { guard: conn.guard, ...conn.guard.command(request.command) } : undefined;
  return new Promise((resolve) => {
    conn.client.exec(guarded ? guarded.line : commandLine(conn.dialect, remoteCommand(request.command)), (error, channel: ClientChannel) => {
      if (error) {
        const transportError = conn.alive
          ? new TransportError(host, 'channel', `the ssh server refused a channel: ${error.message}`, { cause: error })
          : (conn.lostWith ?? new TransportError(host, 'lost', `the connection to ${host} was lost`));
        const durationMs = performance.now() - started;
        // Cancelled while sshd had the request and never answered: it may have started there.
        if (!conn.alive && request.signal?.aborted) resolve({ exitCode: null, signal: null, durationMs, cancelled: true, stopUnconfirmed: transportError });
        else resolve({ exitCode: null, signal: null, durationMs, transportError, cancelled: false });
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
        exitSignal = signal ? signalName(signal) : null;
      });
      // Under a guard, the job's stdin ends at once (as /dev/null would) and the guard stops it.
      // Without one, ending the channel's stdin tells the per-job wrapper to stop the job's whole
      // tree (sshd ignores `signal` for root, and leaves the command running when the channel closes).
      let stop: () => void;
      let stopBeat = (): void => undefined;
      if (guarded) {
        // eof(), not end(): ssh2 calls end() itself when the channel closes, and a second end() costs an error object per job.
        channel.eof();
        stop = () => guarded.guard.cancel(guarded.token);
      } else {
        const beat = heartbeat(channel);
        stop = beat.cancel;
        stopBeat = beat.stop;
      }
      const detach = watchStop(request, stop);
      channel.on('close', () => {
        const { cancelled, timedOut } = detach();
        stopBeat();
        out.end();
        err.end();
        const durationMs = performance.now() - started;
        // The guard forgets a job that ended; one ended by a signal has the rest of its group stopped too.
        if (guarded && exited) guarded.guard.finished(guarded.token, !cancelled && !timedOut && (exitSignal !== null || (exitCode ?? 0) > 128));
        const guardGone = guarded !== undefined && !guarded.guard.alive && exitCode === 255;
        // Asked to stop, and the connection was lost before the host said the job ended (issue 13):
        // the guard or wrapper there stops it once it notices, which pegasus cannot see.
        if (!exited && (cancelled || timedOut) && !conn.alive) {
          const stopUnconfirmed = conn.lostWith ?? new TransportError(host, 'lost', `the connection to ${host} was lost`);
          resolve({ exitCode: null, signal: null, durationMs, cancelled, timedOut, stopUnconfirmed });
          return;
        }
        if ((!exited && !cancelled && !timedOut) || guardGone) {
          const transportError = conn.lostWith ?? new TransportError(host, 'lost', `the channel to ${host} closed before the command finished`);
          resolve({ exitCode: null, signal: null, durationMs, transportError, cancelled });
          return;
        }
        resolve({ exitCode, signal: exitSignal, durationMs, cancelled, timedOut });
      });
    });
  });
}

/** A signal named once, `SIGTERM`, whether the server sent `TERM` or `SIGTERM` and ssh2 added its own prefix (issue 13 saw `SIGSIGTERM`). */
export function signalName(signal: string): string {
  return `SIG${signal.replace(/^(SIG)+/, '')}`;
}
