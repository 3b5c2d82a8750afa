// Resolving a host name into connection parameters through OpenSSH's own `ssh -G` (or the config reader), cached per process.

import { execFile } from 'node:child_process';

import { ConfigError } from '../errors.js';
import { resolveFromConfigFile } from './ssh-config-file.js';
import { LIST_KEYWORDS, toResolvedHost, type ResolvedHost, type Settings } from './ssh-settings.js';

// Re-exported so callers keep importing from here (ssh.ts, known-hosts.ts, the tests). ResolvedHost is
// defined in ssh-settings.ts so that neither helper module has to import this one back.
export { type ResolvedHost } from './ssh-settings.js';
export { matchPattern, matchPatternList, parseSshConfigText, resolveFromConfigFile, type SshConfigLine } from './ssh-config-file.js';

/** Where to read ssh config from. */
export interface ResolveOptions {
  /** Like `ssh -F`: only this file is read (not ~/.ssh/config nor /etc/ssh/ssh_config). */
  readonly configFile?: string;
  /** The ssh binary to ask; `ssh` on PATH by default. Without one the config is read by `resolveFromConfigFile`. */
  readonly sshBinary?: string;
  readonly signal?: AbortSignal;
}

const SSH_G_TIMEOUT_MS = 10_000;

// Keyed by (sshBinary, configFile, host): all sub-nodes of one host share one resolution.
const cache = new Map<string, Promise<ResolvedHost>>();

/** Resolves a host through `ssh -G` (OpenSSH's own resolution), or the config reader when no ssh exists; cached per process. */
export function resolveHost(host: string, options: ResolveOptions = {}): Promise<ResolvedHost> {
  const key = JSON.stringify([options.sshBinary ?? 'ssh', options.configFile ?? null, host]);
  let pending = cache.get(key);
  if (!pending) {
    // Not tied to any caller's signal: one caller giving up must not fail the others sharing it.
    pending = resolveUncached(host, options.configFile, options.sshBinary ?? 'ssh');
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
  }
  return raceAbort(pending, options.signal);
}

/** Forgets cached resolutions, e.g. after the config file changed. */
export function clearResolveCache(): void {
  cache.clear();
}

async function resolveUncached(host: string, configFile: string | undefined, sshBinary: string): Promise<ResolvedHost> {
  checkHostArgument(host, configFile);
  const args = ['-G', ...(configFile === undefined ? [] : ['-F', configFile]), '--', host];
  let stdout: string;
  try {
    stdout = await execSshG(sshBinary, args);
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { killed?: boolean; stderr?: string };
    if (failure.code === 'ENOENT') return resolveFromConfigFile(host, configFile === undefined ? {} : { configFile });
    throw sshGError(host, configFile, failure);
  }
  return toResolvedHost(host, parseSshGOutput(stdout));
}

function execSshG(sshBinary: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      sshBinary,
      args,
      { timeout: SSH_G_TIMEOUT_MS, encoding: 'utf8', maxBuffer: 1 << 20 },
      (error, stdout, stderr) => (error ? reject(Object.assign(error, { stderr })) : resolve(stdout)),
    );
    child.stdin?.end();
  });
}

function sshGError(
  host: string,
  configFile: string | undefined,
  failure: Error & { killed?: boolean; stderr?: string },
): ConfigError {
  const file = configFile ?? '~/.ssh/config';
  if (failure.killed) {
    return new ConfigError(`\`ssh -G ${host}\` did not finish within ${SSH_G_TIMEOUT_MS / 1000} s`, {
      place: { file },
      fix: 'Check the ssh config for a slow `Match exec` command.',
      cause: failure,
    });
  }
  // ssh complains about stdin not being a terminal even with -G; that line is noise here.
  const lines = (failure.stderr ?? '')
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '' && !line.startsWith('Pseudo-terminal will not be allocated'));
  // "FILE: line N: complaint" becomes the error's place, so the message need not repeat it.
  const located = lines.map((line) => /^(.+?): line (\d+): (.*)$/.exec(line)).find((match) => match !== null);
  const place = located ? { file: located[1] ?? file, line: Number(located[2]) } : { file };
  const text = lines.map((line) => (located && line === located[0] ? (located[3] ?? line) : line)).join('; ');
  return new ConfigError(`ssh could not resolve host "${host}": ${text || failure.message}`, {
    place,
    fix: `Fix the ssh config file (\`ssh -G${configFile === undefined ? '' : ` -F ${configFile}`} ${host}\` shows the same error).`,
    cause: failure,
  });
}

function checkHostArgument(host: string, configFile: string | undefined): void {
  if (host === '' || host.startsWith('-') || /\s/.test(host)) {
    throw new ConfigError(`"${host}" is not a host name ssh accepts`, {
      ...(configFile === undefined ? {} : { place: { file: configFile } }),
      fix: 'Name a host from your ssh config, or an address, without spaces and not starting with "-".',
    });
  }
}

function parseSshGOutput(stdout: string): Settings {
  const settings = new Map<string, string[]>();
  for (const line of stdout.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const keyword = line.slice(0, space).toLowerCase();
    const value = line.slice(space + 1);
    const values = settings.get(keyword) ?? [];
    values.push(...(LIST_KEYWORDS.has(keyword) ? value.split(' ').filter(Boolean) : [value]));
    settings.set(keyword, values);
  }
  return settings;
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
