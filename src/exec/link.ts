// One SSH connection's transport: the stream under the ssh2 client, a liveness deadline that notices a silent host, and a hang-up that ends in bounded time.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Client } from 'ssh2';

/** How a connection's liveness is checked: OpenSSH's ServerAliveInterval and ServerAliveCountMax. */
export interface Keepalive {
  /** After this long without a byte from the server, it is asked for an answer. */
  readonly intervalMs: number;
  /** Without a byte from the server for intervalMs × countMax, the connection is given up. */
  readonly countMax: number;
}

/** After a polite end, the server gets this long to close its side before the socket is destroyed. */
export const HANG_UP_MS = 2000;
/** The deadline leaves a probe at least this long to be answered (ServerAliveCountMax 1 would otherwise drop at the first probe). */
const ANSWER_MS = 1000;
/** A deadline check later than this means the event loop was busy: the server's bytes may be waiting unread. */
const STALL_MS = 1000;
/** Asked of the server to get an answer: a forwarding that was never requested, so cancelling it changes nothing. */
const PROBE_HOST = 'pegasus-keepalive.invalid';

/**
 * Opens the TCP connection to an SSH server, with Nagle's algorithm off from the first byte: with
 * it on (ssh2 turns it off only once the connection is ready), the service request after NEWKEYS
 * waited for sshd's delayed ACK, 40 ms of a handshake measured at 87 ms, 42 without (issue 17).
 */
export function dial(host: string, port: number): net.Socket {
  return net.connect({ host, port, noDelay: true });
}

/**
 * Why pegasus keeps its own deadline instead of ssh2's `keepaliveInterval` (issue 13). ssh2 pings
 * only while its socket is writable and stops for good otherwise: after `client.end()` on a host
 * that went silent (the socket half-closed, waiting for a FIN that never comes) no ping is sent and
 * no error comes, and the process stays alive with the socket; `client.destroy()` is a no-op
 * then. ssh2 also counts one interval more than OpenSSH (5 s × 3 was noticed after 20 s). Owning
 * the stream lets pegasus hear every byte, probe, and destroy it whatever state ssh2 is in.
 */
export class Link {
  readonly client: Client;
  private readonly stream: Duplex;
  private readonly destroy: () => void;
  private timer: NodeJS.Timeout | undefined;
  private closedFlag = false;
  private hangingUp: Promise<void> | undefined;
  /** Why pegasus gave the connection up, when it did (the host stopped answering). */
  private silence: string | undefined;
  /** Resolves once the stream under the client has closed. */
  readonly closed: Promise<void>;

  /** `destroy` tears the transport down at once (the socket, or the stream and the jump hosts under it). */
  constructor(client: Client, stream: Duplex, destroy: () => void) {
    this.client = client;
    this.stream = stream;
    this.destroy = destroy;
    this.closed = new Promise((resolve) => {
      stream.once('close', () => {
        this.closedFlag = true;
        this.stopWatching();
        resolve();
      });
    });
  }

  /** Why the connection was given up ("no answer for 15s"), once pegasus did so. */
  get lostReason(): string | undefined {
    return this.silence;
  }

  /**
   * Starts the liveness deadline (once the connection is ready): every byte from the server counts;
   * after each `intervalMs` of silence the server is asked for an answer, and after
   * `intervalMs × countMax` of silence the connection is dropped, as OpenSSH's manual describes
   * it (15 s × 3 ≈ 45 s; OpenSSH itself, like ssh2, waits one interval more).
   */
  watch(keepalive: Keepalive): void {
    if (this.closedFlag || this.timer) return;
    const limitMs = Math.max(keepalive.intervalMs * keepalive.countMax, keepalive.intervalMs + ANSWER_MS);
    const tickMs = Math.max(50, Math.min(500, keepalive.intervalMs / 2));
    let heard = Date.now();
    let lastTick = heard;
    let probes = 0;
    this.stream.on('data', () => {
      heard = Date.now();
      probes = 0;
    });
    this.timer = setInterval(() => {
      const now = Date.now();
      const late = now - lastTick - tickMs;
      lastTick = now;
      // A stalled event loop did not look at the socket: that time is not the server's silence.
      if (late > STALL_MS) heard += late;
      const silentMs = now - heard;
      if (silentMs >= limitMs) {
        this.silence = `no answer for ${Math.round(limitMs / 1000)}s`;
        this.drop();
      } else if (silentMs >= (probes + 1) * keepalive.intervalMs) {
        probes += 1;
        this.probe();
      }
    }, tickMs);
    // The connection's own socket keeps the process alive while it is open; the deadline must not.
    this.timer.unref();
  }

  /**
   * Resolves once the server has answered a request sent now, so it has acted on everything sent
   * before it (the protocol is in order); or once the connection is closed (ssh2 then calls every
   * pending request's callback with an error).
   */
  answered(): Promise<void> {
    if (this.closedFlag) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        this.client.unforwardIn(PROBE_HOST, 1, () => resolve());
      } catch {
        resolve(); // not writable any more: it is closing
      }
    });
  }

  /** Ends the connection politely, then by force after HANG_UP_MS; resolves once it is closed (in bounded time whatever the host does). */
  hangUp(): Promise<void> {
    if (this.closedFlag) return Promise.resolve();
    this.hangingUp ??= (async () => {
      this.client.end();
      const force = setTimeout(() => this.drop(), HANG_UP_MS);
      await this.closed;
      clearTimeout(force);
    })();
    return this.hangingUp;
  }

  /** Tears the connection down at once; ssh2 then closes its channels and the client. */
  drop(): void {
    this.stopWatching();
    if (!this.closedFlag) this.destroy();
  }

  private stopWatching(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * A global request with want-reply, which every SSH server must answer (RFC 4254 §4). ssh2 has
   * no public ping (its keepalive@openssh.com is internal); cancelling a forwarding that was never
   * asked for is answered with a failure and changes nothing on the server.
   */
  private probe(): void {
    try {
      this.client.unforwardIn(PROBE_HOST, 1, () => undefined);
    } catch {
      // Not writable any more: the deadline drops it.
    }
  }
}
