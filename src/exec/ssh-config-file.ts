// The fallback ssh config reader, for machines without an ssh binary: parsing, Host/Include/Match all, defaults, patterns.

// Deliberately modest: Host blocks with `*`/`?`/`!` patterns, first-obtained-value-wins, Include
// (globs in the last path component), and OpenSSH's defaults. `Match` blocks other than
// `Match all` are skipped as if they never matched, and CanonicalizeHostname is ignored: for
// those, install OpenSSH so `ssh -G` is used.

import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';

import { ConfigError } from '../errors.js';
import {
  expandPath,
  expandTilde,
  hostPart,
  LIST_KEYWORDS,
  noneToUndefined,
  toResolvedHost,
  type ResolvedHost,
  type Settings,
  type TokenContext,
} from './ssh-settings.js';

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
