// Turning ssh settings in `ssh -G` form into a ResolvedHost: value checks, `~`, `${VAR}` and `%` token expansion.

import { createHash } from 'node:crypto';
import os from 'node:os';
import { join } from 'node:path';

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

/** ssh -G output and the config reader's result alike: lowercase keyword → values, one per line or list item. */
export type Settings = ReadonlyMap<string, readonly string[]>;

// Keywords whose one line holds a space-separated list. A path with a space in it cannot be told
// apart in `ssh -G` output; such paths are not supported here.
export const LIST_KEYWORDS: ReadonlySet<string> = new Set(['userknownhostsfile', 'globalknownhostsfile']);

/** Turns settings in `ssh -G` form (defaults filled, all but IdentityFile already expanded) into a value. */
export function toResolvedHost(alias: string, settings: Settings, home = os.homedir()): ResolvedHost {
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

/** `none` (any case) and a missing value both mean "not set". */
export function noneToUndefined(value: string | undefined): string | undefined {
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

/** The host of `user@host` (all of it when there is no `@`). */
export function hostPart(alias: string): string {
  return alias.slice(alias.lastIndexOf('@') + 1);
}

/** What the `%` tokens of one host expand to. */
export interface TokenContext {
  readonly alias: string;
  /** `~` and %d. */
  readonly home: string;
  readonly hostname: string;
  readonly port: number;
  readonly user: string;
  readonly hostKeyAlias: string | undefined;
  readonly proxyJump: string | undefined;
}

/**
 * Expands `~`, `${VAR}` and the `%` tokens IdentityFile, IdentityAgent and UserKnownHostsFile accept
 * (ssh_config(5) TOKENS). `~user/` is left alone. %C is OpenSSH 9.2's: SHA1 of %l%h%p%r.
 */
export function expandPath(path: string, tokens: TokenContext): string {
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

/** Expands a leading `~` or `~/` to home. */
export function expandTilde(path: string, home: string): string {
  if (path === '~') return home;
  return path.startsWith('~/') ? join(home, path.slice(2)) : path;
}
