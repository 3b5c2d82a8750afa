// Starting a script on a connection through the host's login shell, first as POSIX sh, then portable: which dialect the shell reads as sh does, or what it said when it read neither.
import type { Client, ClientChannel } from 'ssh2';
import { commandLine, PROBE_ECHO, probeLine, type Dialect } from './login-shell.js';

/** How starting a probed script went. */
export type Probed =
  /** The login shell read the probe as sh does; the script runs on `channel` (paused), which printed `rest` after the probe's line. */
  | { readonly kind: 'ok'; readonly dialect: Dialect; readonly channel: ClientChannel; readonly rest: string }
  /** Neither dialect worked: what the login shell printed and how it exited the last time, and its name when it could say. */
  | { readonly kind: 'shell'; readonly output: string; readonly exitCode: number | null; readonly shell: string | undefined }
  /** No answer in time, or no channel: nothing is known about the shell. */
  | { readonly kind: 'unavailable' };

/** What is kept of a failing shell's output for the message. */
const OUTPUT_MAX = 400;

/**
 * Runs `script` (POSIX sh that prints PROBE_PRINT's line before anything else) as `exec sh -c script name PROBE_WORD`
 * through the login shell: as written, and, if the probe's line does not come back byte for byte,
 * through the portable bootstrap (issue 13). Gives up after `timeoutMs` in all.
 */
export async function startProbed(client: Client, script: string, name: string, timeoutMs: number): Promise<Probed> {
  const deadline = Date.now() + timeoutMs;
  let last: Attempt | undefined;
  for (const dialect of ['posix', 'portable'] as const) {
    last = await attempt(client, commandLine(dialect, probeLine(script, name)), deadline - Date.now());
    if (last.kind === 'seen') return { kind: 'ok', dialect, channel: last.channel, rest: last.rest };
    if (last.kind === 'unavailable') return last;
  }
  const failed = last as Extract<Attempt, { kind: 'mismatch' }>;
  return { kind: 'shell', output: failed.output, exitCode: failed.exitCode, shell: await loginShellName(client, deadline - Date.now()) };
}

type Attempt =
  | { readonly kind: 'seen'; readonly channel: ClientChannel; readonly rest: string }
  | { readonly kind: 'mismatch'; readonly output: string; readonly exitCode: number | null }
  | { readonly kind: 'unavailable' };

function attempt(client: Client, line: string, timeoutMs: number): Promise<Attempt> {
  return new Promise((resolve) => {
    let settled = false;
    let channel: ClientChannel | undefined;
    let stdout = '';
    let stderr = '';
    let exitCode: number | null = null;
    const settle = (result: Attempt): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (channel) {
        channel.removeListener('data', onData);
        if (result.kind === 'seen') channel.pause();
        else channel.close();
      }
      resolve(result);
    };
    const timer = setTimeout(() => settle({ kind: 'unavailable' }), Math.max(0, timeoutMs));
    const onData = (chunk: Buffer): void => {
      stdout += chunk.toString('utf8');
      const at = stdout.indexOf(PROBE_ECHO);
      // Anything an rc file prints before the probe's line is skipped.
      if (at >= 0 && channel) settle({ kind: 'seen', channel, rest: stdout.slice(at + PROBE_ECHO.length) });
    };
    client.exec(line, (error, opened) => {
      if (error) return settle({ kind: 'unavailable' });
      if (settled) return void opened.close(); // too late: the connection goes on without it
      channel = opened;
      opened.on('data', onData);
      opened.stderr.on('data', (chunk: Buffer) => {
        if (stderr.length < OUTPUT_MAX) stderr += chunk.toString('utf8');
      });
      opened.on('exit', (code: number | null) => (exitCode = code));
      opened.on('close', () => settle({ kind: 'mismatch', output: `${stdout}${stderr}`.trim().slice(0, OUTPUT_MAX), exitCode }));
    });
  });
}

/** `$SHELL` as the login shell itself prints it (sshd sets it), when it can run `echo` at all. */
function loginShellName(client: Client, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), Math.max(0, Math.min(timeoutMs, 3000)));
    client.exec('echo $SHELL', (error, channel) => {
      if (error) return resolve(undefined);
      let text = '';
      channel.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      channel.stderr.resume();
      channel.on('close', () => {
        clearTimeout(timer);
        const name = text.trim();
        resolve(/^\/\S+$/.test(name) ? name : undefined);
      });
    });
  });
}
