// The host guard: one long-lived sh per SSH connection that stops that connection's jobs as trees when pegasus cancels them, dies, or goes silent.
import type { Client, ClientChannel } from 'ssh2';
import { TransportError } from '../errors.js';
import { commandLine, PROBE_PRINT, type Dialect } from './login-shell.js';
import { startProbed } from './shell-probe.js';
import { HEARTBEAT_MS, shellQuote } from './wrapper.js';

/** Without a heartbeat for this long the guard assumes pegasus is gone and stops every job (as the per-job wrapper does). */
const DEADLINE_S = 25;
/** The guard counts time in ticks of a single sleeper process, not a timer per heartbeat. */
const TICK_S = 5;
/** Between TERM and KILL. */
const GRACE_S = 3;
/** How long the guard gets to say where its fifo is (both dialects included) before the connection falls back to the per-job wrapper. */
const START_MS = 10_000;

/**
 * The guard script. It makes a private fifo, prints its path, and reads lines from it: jobs write
 * `+ T PGID` there themselves before they start (so a job is known to the guard even if pegasus
 * dies a moment later), and a forwarder copies pegasus's lines from the channel: `k T` (cancel),
 * `- T` (ended), `s T` (ended by a signal: its group gets the grace period, then KILL), `h`
 * (heartbeat); a ticker adds `t` every TICK_S. The channel's EOF (pegasus exited, was killed, or
 * the connection closed) or DEADLINE_S of ticks without a heartbeat stops every job still
 * registered, removes the fifo and ends the guard.
 *
 * Why (issue 7): the per-job wrapper forks four processes on the host for every job (the job's
 * session, a stdin watcher, a deadline timer and its sleep), which halved the rate of short jobs.
 * With the guard a job costs no process beyond its own shell: sshd already makes each exec's
 * shell a session and process-group leader, so `$$` of that shell names the job's whole tree.
 *
 * - Background commands get /dev/null as stdin, so the forwarder reads a saved descriptor (3).
 * - The fifo is opened read-write (4), so it always has a reader and a writer: opening never
 *   blocks, and the loop sees no EOF when a job's write ends.
 * - TERM, HUP or INT to the guard itself (a shutdown, someone cleaning up) count as EOF: its jobs
 *   are stopped and the fifo removed before it exits.
 * - Token `T` is a number pegasus chooses; a cancel that arrives before the job registered is
 *   remembered and carried out on registration.
 * - A fifo left by a guard that was killed with its ticker keeps its name: the next names are tried.
 * - The fifo is named by the guard's pid and made with mode 600 (mkfifo never follows or reuses
 *   an existing name; if eight names are in the way, the host falls back to the wrapper): only the user
 *   can write to it, and one process creation is all the guard's start costs. Lines with anything
 *   but tokens and pids are skipped before they reach eval all the same.
 * - The ticker holds the fifo open for writing, so its writes never fail: it checks each tick
 *   that the guard is still there, and when the guard was SIGKILLed it removes the fifo and ends
 *   (it looped on forever, and the fifo stayed, before).
 * - It prints the login-shell probe's line (issue 13) before anything else, so starting it also
 *   tells which dialect the host's login shell needs, even when the guard itself cannot run there.
 *   The probe's line and the fifo's path go out in one write: in two, sshd (Nagle's algorithm on,
 *   as it is for sessions without a tty) held the second until pegasus's delayed ACK of the first,
 *   40 ms of a guard's 13 (issue 17). `command exec` does not end the script when a redirection
 *   fails, so that path prints the probe's line too.
 */
export const GUARD = `f="\${TMPDIR:-/tmp}/pegasus-guard.$$.fifo"
n=0
until mkfifo -m 600 "$f" 2>/dev/null; do n=$((n + 1)); [ $n -lt 8 ] || { ${PROBE_PRINT}; exit 97; }; f="\${TMPDIR:-/tmp}/pegasus-guard.$$.$n.fifo"; done
command exec 3<&0 4<>"$f" </dev/null || { ${PROBE_PRINT}; rm -f "$f"; exit 97; }
printf '%s\\n%s\\n' "pegasus-probe:$1:end" "$f"
exec >/dev/null 2>&1
trap '' PIPE
trap 'echo x >&4' TERM HUP INT
(while IFS= read -r l <&3; do printf '%s\\n' "$l" >&4; done; echo x >&4) &
fwd=$!
(while sleep ${TICK_S}; do kill -0 $$ 2>/dev/null || { rm -f "$f"; exit; }; echo t >&4; done) &
tick=$!
missed=0
stop() {
  kill -TERM -"$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null
  (i=0; while kill -0 -"$1" 2>/dev/null && [ $i -lt ${GRACE_S * 10} ]; do sleep 0.1; i=$((i + 1)); done; kill -KILL -"$1" 2>/dev/null) &
}
forget() {
  case "$live" in *" $1 "*) live="\${live% $1 *} \${live#* $1 }" ;; esac
  unset "pg_$1" "k_$1"
}
live=" "
while IFS=' ' read -r op t p <&4; do
  case "$op$t$p" in *[!0-9a-z+-]*) continue ;; esac
  case $op in
    +) eval "pg_$t=$p"; live="$live$t "; eval "c=\\\${k_$t-}"; [ -n "$c" ] && stop "$p" ;;
    k) eval "p=\\\${pg_$t-}"; if [ -n "$p" ]; then stop "$p"; else eval "k_$t=1"; fi ;;
    s) eval "p=\\\${pg_$t-}"; [ -n "$p" ] && stop "$p"; forget "$t" ;;
    -) forget "$t" ;;
    t) missed=$((missed + 1)); [ "$missed" -ge ${DEADLINE_S / TICK_S} ] && break ;;
    h) missed=0 ;;
    x) break ;;
  esac
done
for t in $live; do eval "p=\\\${pg_$t-}"; [ -n "$p" ] && stop "$p"; done
kill "$tick" "$fwd" 2>/dev/null
rm -f "$f"`;

/** A guard running on one connection. */
export class HostGuard {
  private readonly channel: ClientChannel;
  private readonly fifo: string;
  /** How this connection's login shell must be sent command lines. */
  readonly dialect: Dialect;
  private readonly beat: NodeJS.Timeout;
  private nextToken = 1;
  private ended = false;
  /** Resolves once the guard's channel has closed. */
  private readonly channelClosed: Promise<void>;

  private constructor(channel: ClientChannel, fifo: string, dialect: Dialect, onEnd: () => void) {
    this.channel = channel;
    this.fifo = fifo;
    this.dialect = dialect;
    this.beat = setInterval(() => this.send('h'), HEARTBEAT_MS);
    this.beat.unref();
    let closed = (): void => undefined;
    this.channelClosed = new Promise((resolve) => (closed = resolve));
    channel.on('close', () => {
      closed();
      clearInterval(this.beat);
      const unexpected = !this.ended;
      this.ended = true;
      if (unexpected) onEnd();
    });
  }

  /**
   * Starts the guard on a connection, through the host's login shell in the dialect it needs.
   * Resolves with the guard and the dialect once it said where its fifo is; without a guard when
   * the host cannot run it (no mkfifo, no writable $TMPDIR, a refused channel): that connection's
   * jobs then run in the per-job wrapper, in the dialect found (undefined: not found, use
   * 'portable'). Throws a TransportError (reason 'shell') when the login shell reads neither
   * dialect: nothing could run there. `onEnd` is called if the guard ends while the connection is
   * in use (it was killed, or it stopped its jobs because the link went silent).
   */
  static async start(client: Client, host: string, onEnd: () => void): Promise<{ guard?: HostGuard; dialect?: Dialect }> {
    const deadline = Date.now() + START_MS;
    const probed = await startProbed(client, GUARD, 'pegasus-guard', START_MS);
    if (probed.kind === 'unavailable') return {};
    if (probed.kind === 'shell') throw new TransportError(host, 'shell', shellProblem(host, client, probed));
    const { channel, dialect } = probed;
    const fifo = await new Promise<string | undefined>((resolve) => {
      let text = probed.rest;
      const timer = setTimeout(() => done(undefined), Math.max(0, deadline - Date.now()));
      const done = (value: string | undefined): void => {
        clearTimeout(timer);
        channel.removeListener('data', onData).removeListener('close', onClose);
        resolve(value);
      };
      const onData = (chunk: Buffer): void => {
        text += chunk.toString('utf8');
        check();
      };
      const onClose = (): void => done(undefined);
      const check = (): void => {
        const newline = text.indexOf('\n');
        if (newline < 0) return;
        const line = text.slice(0, newline);
        done(/^\/\S+\.fifo$/.test(line) ? line : undefined);
      };
      channel.on('data', onData).on('close', onClose);
      channel.stderr.resume();
      channel.resume();
      check();
    });
    if (!fifo) {
      channel.close();
      return { dialect };
    }
    return { guard: new HostGuard(channel, fifo, dialect, onEnd), dialect };
  }

  /** True while the guard runs. */
  get alive(): boolean {
    return !this.ended;
  }

  /**
   * The command line for one job under this guard, and its token. The login shell registers its
   * own pid (the job's process group) with the guard, then becomes `sh -c job`: the job's text
   * reaches that shell byte for byte (DESIGN invariant 4), and its exit status is the job's.
   * Exit 255 with a message means the guard was gone.
   */
  command(job: string): { line: string; token: number } {
    const token = this.nextToken++;
    const f = shellQuote(this.fifo);
    return {
      token,
      line: commandLine(
        this.dialect,
        `[ -p ${f} ] || { echo 'pegasus: the host guard is gone' >&2; exit 255; }; echo "+ ${token} $$" 1<>${f}; exec sh -c ${shellQuote(job)}`,
      ),
    };
  }

  /** Stops a job's tree (TERM, then KILL after the grace period). */
  cancel(token: number): void {
    this.send(`k ${token}`);
  }

  /** Tells the guard a job ended; one that ended by a signal has the rest of its group stopped too. */
  finished(token: number, bySignal: boolean): void {
    this.send(`${bySignal ? 's' : '-'} ${token}`);
  }

  /** Ends the guard, which stops any job still registered. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.beat);
    this.channel.end();
  }

  /**
   * Ends the guard for good while its connection stays in use (a host whose sshd has no session to
   * spare for it, issue 17); resolves once its channel has closed. Only when no job runs under it.
   */
  retire(): Promise<void> {
    this.close();
    return this.channelClosed;
  }

  private send(line: string): void {
    if (!this.ended) this.channel.write(`${line}\n`);
  }
}

/** The paragraph for a host whose login shell can run nothing of pegasus's. */
function shellProblem(host: string, client: Client, probed: { output: string; exitCode: number | null; shell: string | undefined }): string {
  const user = (client as unknown as { config?: { username?: string } }).config?.username;
  const who = user ? `${user}@${host}` : host;
  const said = probed.output ? `it printed "${probed.output.replace(/\s*\n\s*/g, ' ')}"` : 'it printed nothing';
  const exit = probed.exitCode === null ? '' : ` and exited ${probed.exitCode}`;
  return (
    `the login shell${probed.shell ? ` (${probed.shell})` : ''} of ${who} cannot run pegasus's commands, neither as POSIX sh nor through the portable bootstrap: ${said}${exit}. ` +
    `pegasus runs every job with sh -c through the login shell, as ssh does; give that user a login shell that can start programs (chsh -s /bin/bash${user ? ` ${user}` : ''} on ${host}), or log in as another user (User in your ssh config). No job was run there.`
  );
}
