// Resolving a host name into connection parameters with OpenSSH's own config semantics (ssh -G, or a small reader).

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';

import { ConfigError } from '../errors.js';

/** Everything pegasus needs from ssh config to open an ssh2 connection to one host. */
export interface ResolvedHost {
  /** The host as the user wrote it. */
  readonly alias: string;
  readonly hostname: string;
  readonly port: number;
  readonly user: string;
  /** Expanded paths (`~`, `%` tokens, `${VAR}`), in the order ssh would try them; they may not exist. */
  readonly identityFiles: readonly string[];
  /** Agent socket path; undefined means use no agent (`IdentityAgent none`, or SSH_AUTH_SOCK unset). */
  readonly identityAgent?: string;
  readonly identitiesOnly: boolean;
  readonly proxyJump?: string;
  /** ssh2 cannot run a ProxyCommand; it is reported so the caller can refuse rather than connect directly. */
  readonly proxyCommand?: string;
  readonly userKnownHostsFiles: readonly string[];
  readonly globalKnownHostsFiles: readonly string[];
  /** `off` is folded into `no`: OpenSSH treats them alike and `ssh -G` prints both as `false`. */
  readonly strictHostKeyChecking: 'yes' | 'no' | 'accept-new' | 'ask';
  readonly hostKeyAlias?: string;
  readonly connectTimeoutSec?: number;
  readonly serverAliveIntervalSec: number;
  readonly serverAliveCountMax: number;
  readonly hashKnownHosts: boolean;
}

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

/** ssh -G output and the config reader's result alike: lowercase keyword → values, one per line or list item. */
type Settings = ReadonlyMap<string, readonly string[]>;

// Keywords whose one line holds a space-separated list. A path with a space in it cannot be told
// apart in `ssh -G` output; such paths are not supported here.
const LIST_KEYWORDS = new Set(['userknownhostsfile', 'globalknownhostsfile']);

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

// Turns settings in `ssh -G` form (defaults filled, all but IdentityFile already expanded) into a value.
function toResolvedHost(alias: string, settings: Settings, home = os.homedir()): ResolvedHost {
  const first = (keyword: string): string | undefined => settings.get(keyword)?.[0];
  const hostname = first('hostname') ?? hostPart(alias).toLowerCase();
  const port = toInteger(first('port') ?? '22', 'Port', alias);
  const user = first('user') ?? os.userInfo().username;
  const hostKeyAlias = first('hostkeyalias');
  const proxyJump = noneToUndefined(first('proxyjump'));
  const proxyCommand = noneToUndefined(first('proxycommand'));
  const tokens: TokenContext = { alias, home, hostname, port, user, hostKeyAlias, proxyJump };
  const connectTimeout = noneToUndefined(first('connecttimeout'));
  return {
    alias,
    hostname,
    port,
    user,
    identityFiles: (settings.get('identityfile') ?? []).map((file) => expandPath(file, tokens)),
    ...optional('identityAgent', agentSocket(first('identityagent'), home)),
    identitiesOnly: isYes(first('identitiesonly')),
    ...optional('proxyJump', proxyJump),
    ...optional('proxyCommand', proxyCommand),
    userKnownHostsFiles: (settings.get('userknownhostsfile') ?? []).map((file) => expandTilde(file, home)),
    globalKnownHostsFiles: (settings.get('globalknownhostsfile') ?? []).map((file) => expandTilde(file, home)),
    strictHostKeyChecking: strictness(first('stricthostkeychecking') ?? 'ask', alias),
    ...optional('hostKeyAlias', hostKeyAlias),
    ...optional('connectTimeoutSec', connectTimeout === undefined ? undefined : toInteger(connectTimeout, 'ConnectTimeout', alias)),
    serverAliveIntervalSec: toInteger(first('serveraliveinterval') ?? '0', 'ServerAliveInterval', alias),
    serverAliveCountMax: toInteger(first('serveralivecountmax') ?? '3', 'ServerAliveCountMax', alias),
    hashKnownHosts: isYes(first('hashknownhosts')),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function noneToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value.toLowerCase() === 'none' ? undefined : value;
}

function isYes(value: string | undefined): boolean {
  return value !== undefined && ['yes', 'true'].includes(value.toLowerCase());
}

function strictness(value: string, alias: string): ResolvedHost['strictHostKeyChecking'] {
  switch (value.toLowerCase()) {
    case 'yes':
    case 'true':
      return 'yes';
    case 'no':
    case 'off':
    case 'false':
      return 'no';
    case 'accept-new':
      return 'accept-new';
    case 'ask':
      return 'ask';
    default:
      throw new ConfigError(`StrictHostKeyChecking "${value}" for host "${alias}" is not one of yes, no, accept-new, ask, off`);
  }
}

function toInteger(value: string, keyword: string, alias: string): number {
  if (!/^\d+$/.test(value)) throw new ConfigError(`${keyword} "${value}" for host "${alias}" is not a whole number`);
  return Number(value);
}

// IdentityAgent: `SSH_AUTH_SOCK` and `$VAR` name environment variables; no setting means SSH_AUTH_SOCK.
function agentSocket(value: string | undefined, home: string): string | undefined {
  if (value === undefined || value === 'SSH_AUTH_SOCK') return nonEmpty(process.env.SSH_AUTH_SOCK);
  if (value.toLowerCase() === 'none') return undefined;
  if (value.startsWith('$')) return nonEmpty(process.env[value.slice(1)]);
  return expandTilde(value, home);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function hostPart(alias: string): string {
  return alias.slice(alias.lastIndexOf('@') + 1);
}

interface TokenContext {
  readonly alias: string;
  /** `~` and %d. */
  readonly home: string;
  readonly hostname: string;
  readonly port: number;
  readonly user: string;
  readonly hostKeyAlias: string | undefined;
  readonly proxyJump: string | undefined;
}

// `~`, `${VAR}` and the `%` tokens IdentityFile, IdentityAgent and UserKnownHostsFile accept
// (ssh_config(5) TOKENS). `~user/` is left alone. %C is OpenSSH 9.2's: SHA1 of %l%h%p%r.
function expandPath(path: string, tokens: TokenContext): string {
  const local = os.hostname();
  const values: Record<string, string> = {
    '%': '%',
    C: createHash('sha1').update(`${local}${tokens.hostname}${tokens.port}${tokens.user}`).digest('hex'),
    d: tokens.home,
    h: tokens.hostname,
    i: String(os.userInfo().uid),
    j: tokens.proxyJump ?? '',
    k: tokens.hostKeyAlias ?? hostPart(tokens.alias),
    L: local.split('.')[0] ?? local,
    l: local,
    n: hostPart(tokens.alias),
    p: String(tokens.port),
    r: tokens.user,
    T: 'NONE',
    u: os.userInfo().username,
  };
  return expandTilde(path, tokens.home).replace(/%(.?)|\$\{([^}]*)\}/g, (whole, token: string | undefined, variable: string | undefined) => {
    if (variable !== undefined) {
      const value = process.env[variable];
      if (value === undefined) throw new ConfigError(`"${path}" for host "${tokens.alias}" names the unset environment variable ${variable}`);
      return value;
    }
    const value = values[token ?? ''];
    if (value === undefined) throw new ConfigError(`"${path}" for host "${tokens.alias}" has the unknown token "${whole}"`, { fix: 'Write %% for a literal %.' });
    return value;
  });
}

function expandTilde(path: string, home: string): string {
  if (path === '~') return home;
  return path.startsWith('~/') ? join(home, path.slice(2)) : path;
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

// ---------------------------------------------------------------------------------------------
// The fallback reader, for machines without an ssh binary. Deliberately modest: Host blocks with
// `*`/`?`/`!` patterns, first-obtained-value-wins, Include (globs in the last path component), and
// OpenSSH's defaults. `Match` blocks other than `Match all` are skipped as if they never matched,
// and CanonicalizeHostname is ignored: for those, install OpenSSH so `ssh -G` is used.

/** One keyword line of an ssh config file. */
export interface SshConfigLine {
  /** Lowercase. */
  readonly keyword: string;
  readonly args: readonly string[];
  /** 1-based. */
  readonly line: number;
}

/** Splits ssh config text into keyword lines: `Key value`, `Key=value`, quotes, comments. */
export function parseSshConfigText(text: string, file: string): SshConfigLine[] {
  const lines: SshConfigLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const words = splitWords(raw, { file, line: i + 1 });
    const head = words.shift();
    if (head === undefined) return;
    // `Key=value` and `Key = value` both put the value after the first '='.
    const equals = head.indexOf('=');
    const keyword = equals < 0 ? head : head.slice(0, equals);
    if (equals >= 0 && equals < head.length - 1) words.unshift(head.slice(equals + 1));
    else if (equals < 0 && words[0] === '=') words.shift();
    else if (equals < 0 && words[0]?.startsWith('=')) words[0] = words[0].slice(1);
    lines.push({ keyword: keyword.toLowerCase(), args: words, line: i + 1 });
  });
  return lines;
}

/** Resolves a host by reading ssh config files directly (no `Match`); used when no ssh binary exists. */
export async function resolveFromConfigFile(
  host: string,
  options: { readonly configFile?: string; readonly homeDir?: string; readonly systemConfigFile?: string } = {},
): Promise<ResolvedHost> {
  const home = options.homeDir ?? os.homedir();
  const reader: Reader = { host: hostPart(host), home, settings: new Map(), depth: 0 };
  if (options.configFile !== undefined) {
    const text = await readConfig(options.configFile, true);
    await applyFile(reader, options.configFile, text ?? '', { active: true, userConfig: true });
  } else {
    for (const [file, userConfig] of [
      [join(home, '.ssh', 'config'), true],
      [options.systemConfigFile ?? '/etc/ssh/ssh_config', false],
    ] as const) {
      const text = await readConfig(file, false);
      if (text !== undefined) await applyFile(reader, file, text, { active: true, userConfig });
    }
  }
  return toResolvedHost(host, withDefaults(host, reader), home);
}

interface Reader {
  readonly host: string;
  readonly home: string;
  readonly settings: Map<string, string[]>;
  depth: number;
}

// Keywords whose every occurrence adds to the list instead of first-wins.
const ACCUMULATING = new Set(['identityfile']);

async function applyFile(
  reader: Reader,
  file: string,
  text: string,
  context: { readonly active: boolean; readonly userConfig: boolean },
): Promise<void> {
  // Lines before the first Host/Match apply to every host; an Include in an inactive block can
  // never activate (OpenSSH's SSHCONF_NEVERMATCH).
  let active = context.active;
  for (const { keyword, args, line } of parseSshConfigText(text, file)) {
    if (keyword === 'host') {
      active = context.active && matchPatternList(reader.host, args, { caseInsensitive: false });
    } else if (keyword === 'match') {
      active = context.active && args.length === 1 && args[0]?.toLowerCase() === 'all';
    } else if (!active) {
      continue;
    } else if (keyword === 'include') {
      for (const pattern of args) {
        for (const included of await expandInclude(pattern, reader.home, context.userConfig)) {
          if (reader.depth >= 16) throw new ConfigError('Include nested too deep', { place: { file, line } });
          const includedText = await readConfig(included, false);
          if (includedText === undefined) continue;
          reader.depth++;
          await applyFile(reader, included, includedText, { active, userConfig: context.userConfig });
          reader.depth--;
        }
      }
    } else {
      setFirst(reader.settings, keyword, args);
    }
  }
}

function setFirst(settings: Map<string, string[]>, keyword: string, args: readonly string[]): void {
  if (ACCUMULATING.has(keyword)) {
    settings.set(keyword, [...(settings.get(keyword) ?? []), ...args.slice(0, 1)]);
    return;
  }
  // ProxyJump and ProxyCommand exclude each other: whichever comes first wins.
  const exclusive = keyword === 'proxyjump' || keyword === 'proxycommand';
  if (settings.has(keyword) || (exclusive && (settings.has('proxyjump') || settings.has('proxycommand')))) return;
  // ProxyCommand is the rest of the line; the others take their list or their first word.
  if (keyword === 'proxycommand') settings.set(keyword, [args.join(' ')]);
  else settings.set(keyword, LIST_KEYWORDS.has(keyword) ? [...args] : args.slice(0, 1));
}

// Fills OpenSSH's defaults and expands what `ssh -G` prints expanded, so both paths meet in the same form.
function withDefaults(alias: string, reader: Reader): Settings {
  const settings = new Map(reader.settings);
  const hostArg = reader.host;
  const hostname = (settings.get('hostname')?.[0] ?? '%h').replace(/%([%h])/g, (_, t: string) => (t === '%' ? '%' : hostArg)).toLowerCase();
  settings.set('hostname', [hostname]);
  const at = alias.lastIndexOf('@');
  if (at > 0) settings.set('user', [alias.slice(0, at)]);
  if (!settings.has('user')) settings.set('user', [os.userInfo().username]);
  if (!settings.has('port')) settings.set('port', ['22']);
  const ssh = (name: string): string => join(reader.home, '.ssh', name);
  if (!settings.has('identityfile')) {
    settings.set('identityfile', ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_dsa'].map(ssh));
  }
  if (!settings.has('userknownhostsfile')) settings.set('userknownhostsfile', [ssh('known_hosts'), ssh('known_hosts2')]);
  if (!settings.has('globalknownhostsfile')) {
    settings.set('globalknownhostsfile', ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']);
  }
  const tokens: TokenContext = {
    alias,
    home: reader.home,
    hostname,
    port: Number(settings.get('port')?.[0]),
    user: settings.get('user')?.[0] ?? '',
    hostKeyAlias: settings.get('hostkeyalias')?.[0],
    proxyJump: noneToUndefined(settings.get('proxyjump')?.[0]),
  };
  settings.set('userknownhostsfile', (settings.get('userknownhostsfile') ?? []).map((file) => expandPath(file, tokens)));
  const agent = settings.get('identityagent')?.[0];
  if (agent !== undefined && agent !== 'SSH_AUTH_SOCK' && !agent.startsWith('$') && agent.toLowerCase() !== 'none') {
    settings.set('identityagent', [expandPath(agent, tokens)]);
  }
  return settings;
}

async function expandInclude(pattern: string, home: string, userConfig: boolean): Promise<string[]> {
  const expanded = expandTilde(pattern, home);
  const path = isAbsolute(expanded) ? expanded : join(userConfig ? join(home, '.ssh') : '/etc/ssh', expanded);
  const last = basename(path);
  if (!/[*?]/.test(last)) return [path];
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return [];
  }
  return names
    .filter((name) => matchPattern(name, last, { caseInsensitive: false }) && !(name.startsWith('.') && !last.startsWith('.')))
    .sort()
    .map((name) => join(dirname(path), name));
}

async function readConfig(file: string, required: boolean): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read ssh config file: ${(error as Error).message}`, { place: { file }, cause: error });
  }
}

// OpenSSH's argv_split: whitespace-separated words, '…' and "…" quotes, backslash escapes, and a
// word starting with an unquoted '#' ends the line.
function splitWords(text: string, place: { readonly file: string; readonly line: number }): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /[ \t\r]/.test(text[i] ?? '')) i++;
    if (i >= text.length || text[i] === '#') break;
    let word = '';
    let quote: string | undefined;
    for (; i < text.length; i++) {
      const c = text[i] ?? '';
      if (quote === undefined && /[ \t\r]/.test(c)) break;
      if (c === '\\' && i + 1 < text.length && (quote === undefined || text[i + 1] === quote || text[i + 1] === '\\')) {
        word += text[++i];
      } else if (quote === undefined && (c === '"' || c === "'")) {
        quote = c;
      } else if (c === quote) {
        quote = undefined;
      } else {
        word += c;
      }
    }
    if (quote !== undefined) throw new ConfigError('unterminated quote', { place });
    words.push(word);
  }
  return words;
}

/** OpenSSH's match_pattern: `*` any run, `?` any one character, everything else literal. */
export function matchPattern(text: string, pattern: string, options: { readonly caseInsensitive: boolean }): boolean {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, options.caseInsensitive ? 'si' : 's').test(text);
}

/** OpenSSH's pattern-list rule: any matching `!pattern` excludes, else any matching pattern includes. */
export function matchPatternList(
  text: string,
  patterns: readonly string[],
  options: { readonly caseInsensitive: boolean },
): boolean {
  let matched = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    if (!matchPattern(text, negated ? pattern.slice(1) : pattern, options)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}
