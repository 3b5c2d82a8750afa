// The per-job POSIX sh wrapper (local jobs, and SSH hosts that cannot run the host guard): its own process group, killed as a tree when pegasus goes away or cancels it.

/** Quotes a string as one POSIX shell word: '…' with each ' written as '\'' (quotes, $, \ and newlines survive). */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** pegasus writes a line to the wrapper's stdin (or the host guard's) this often, so a silent link is noticed on the host too. */
export const HEARTBEAT_MS = 5000;
/** Without a heartbeat for this long the wrapper assumes pegasus is gone and stops the job. */
const DEADLINE_S = 25;
/** Between TERM and KILL. */
const GRACE_S = 3;

/**
 * The wrapper script; `$1` is the job. OpenSSH leaves a command running when the channel or the
 * connection closes, and refuses `signal` requests for root (DESIGN, SSH facts), so the wrapper
 * itself watches its stdin: EOF (pegasus cancelled the job, was killed, or the connection closed)
 * or no heartbeat for DEADLINE_S means TERM to the job's process group, then KILL after GRACE_S.
 * The job's exit status and output pass through unchanged (issue 5).
 *
 * - `setsid` gives the job its own session and group (`set -m` needs a terminal in dash);
 *   a background job of a non-interactive sh is not a group leader, so setsid does not fork and
 *   `$!` is the group id.
 * - Background commands get /dev/null as stdin, so the watcher reads a saved descriptor (3).
 * - The deadline is a timer process that each heartbeat replaces: no temporary files, and only
 *   four process creations per job (issue 7 measured the earlier temp-dir version at a quarter
 *   of the bare exec rate).
 * - A job whose leader died of a signal (status over 128: stopped by us, or killed) gets the grace
 *   period, then its whole group is killed.
 * - The watcher and the timers run in the wrapper's own group; `kill 0` at the end stops them.
 * - A job that died of HUP, INT, KILL, USR1, USR2, PIPE, ALRM or TERM (status 128+n) is reported
 *   as that signal, by the wrapper dying of it in turn, as under the host guard, where sshd sees
 *   the job's own death (issue 13). Signals that stop, dump core or are ignored are not re-raised.
 * - Once the job runs, the wrapper lets go of the channel's stdout and stderr: the shell reports a
 *   killed job ("Terminated") on stderr, and with pegasus gone that write raised SIGPIPE and killed
 *   the wrapper before it cleaned up.
 */
export const WRAPPER = `exec 3<&0 </dev/null
if command -v setsid >/dev/null 2>&1; then setsid sh -c "$1" & else sh -c "$1" & fi
job=$!
(
  arm() { (sleep ${DEADLINE_S}; kill -TERM -"$job" 2>/dev/null || kill -TERM "$job" 2>/dev/null) & timer=$!; }
  arm
  while IFS= read -r _ <&3; do kill "$timer" 2>/dev/null; arm; done
  kill "$timer" 2>/dev/null
  kill -TERM -"$job" 2>/dev/null || kill -TERM "$job" 2>/dev/null
) >/dev/null 2>&1 &
trap '' PIPE
exec >/dev/null 2>&1
wait "$job"; status=$?
if [ "$status" -gt 128 ]; then
  i=0
  while kill -0 -"$job" 2>/dev/null && [ $i -lt ${GRACE_S * 10} ]; do sleep 0.1; i=$((i + 1)); done
  kill -KILL -"$job" 2>/dev/null
fi
trap '' TERM
kill -TERM 0 2>/dev/null
case $status in 129|130|137|138|140|141|142|143) trap - HUP INT TERM PIPE; kill -$((status - 128)) $$ ;; esac
exit "$status"`;

/**
 * The command line for an exec channel. The login shell parses it once; the wrapper then gets the
 * job text byte for byte as `$1` (DESIGN invariant 4).
 */
export function remoteCommand(job: string): string {
  return `exec sh -c ${shellQuote(WRAPPER)} pegasus-job ${shellQuote(job)}`;
}
