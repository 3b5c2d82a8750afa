// OpenSSH known_hosts files: parsing, host key checks for ssh2's hostVerifier, appending new keys.

import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { matchPatternList } from './ssh-config.js';

/** How a known_hosts line names its hosts: a pattern list, or one hashed name. */
export type KnownHostNames =
  | { readonly kind: 'patterns'; readonly patterns: readonly string[] }
  | { readonly kind: 'hashed'; readonly salt: Buffer; readonly hmac: Buffer };

/** One usable line of a known_hosts file (comments, blank, `@cert-authority` and malformed lines are dropped). */
export interface KnownHostEntry {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  readonly revoked: boolean;
  readonly names: KnownHostNames;
  /** The type named inside the key blob, e.g. `ssh-ed25519`, `ssh-rsa`. */
  readonly keyType: string;
  /** The SSH wire-format public key, as ssh2 hands it to hostVerifier. */
  readonly key: Buffer;
}

/** The outcome of looking a presented host key up in known_hosts files. */
export type HostKeyCheck =
  | { readonly status: 'known' }
  | { readonly status: 'unknown' }
  | {
      readonly status: 'changed';
      /** The name looked up: `host`, or `[host]:port` for ports other than 22. */
      readonly name: string;
      readonly file: string;
      readonly line: number;
      /** The key type both the recorded and the presented key have. */
      readonly knownType: string;
      /** Fingerprint of the presented key. */
      readonly fingerprint: string;
    }
  | {
      readonly status: 'revoked';
      readonly name: string;
      readonly file: string;
      readonly line: number;
      readonly knownType: string;
      /** Fingerprint of the presented (revoked) key. */
      readonly fingerprint: string;
    };

/** The name OpenSSH records a host under: `host` on port 22, `[host]:port` otherwise (pass the HostKeyAlias with port 22). */
export function knownHostsName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/** The fingerprint `ssh-keygen -lf` prints for a wire-format public key: `SHA256:` + unpadded base64. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named at the start of a wire-format public key (uint32 length + name). */
export function keyTypeOf(blob: Buffer): string {
  const type = readKeyType(blob);
  if (type === undefined) throw new TypeError('not an SSH wire-format public key');
  return type;
}

/** Parses the text of one known_hosts file; lines OpenSSH would skip are skipped. */
export function parseKnownHostsText(text: string, file: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const entry = parseLine(lines[i] ?? '', file, i + 1);
    if (entry) entries.push(entry);
  }
  return entries;
}

/** Reads and parses known_hosts files in order; a missing file is empty. */
export async function readKnownHosts(files: readonly string[]): Promise<KnownHostEntry[]> {
  const texts = await Promise.all(files.map((file) => readIfExists(file)));
  return texts.flatMap((text, i) => (text === undefined ? [] : parseKnownHostsText(text, files[i] ?? '')));
}

/** Checks a presented host key against known_hosts files, with OpenSSH's precedence: revoked, known, changed, unknown. */
export async function checkHostKey(options: {
  readonly host: string;
  readonly port: number;
  readonly blob: Buffer;
  readonly files: readonly string[];
}): Promise<HostKeyCheck> {
  const name = knownHostsName(options.host, options.port);
  const entries = (await readKnownHosts(options.files)).filter((entry) => entryMatches(entry, name));
  const revoked = entries.find((entry) => entry.revoked && entry.key.equals(options.blob));
  if (revoked) {
    const { file, line, keyType: knownType } = revoked;
    return { status: 'revoked', name, file, line, knownType, fingerprint: fingerprint(options.blob) };
  }
  const live = entries.filter((entry) => !entry.revoked);
  if (live.some((entry) => entry.key.equals(options.blob))) return { status: 'known' };
  const type = readKeyType(options.blob);
  const sameType = live.find((entry) => entry.keyType === type);
  if (sameType === undefined || type === undefined) return { status: 'unknown' };
  return {
    status: 'changed',
    name,
    file: sameType.file,
    line: sameType.line,
    knownType: type,
    fingerprint: fingerprint(options.blob),
  };
}

/**
 * The key types recorded for a host, first seen first, so the caller can put them first in ssh2's
 * `algorithms.serverHostKey` as OpenSSH does (the type `ssh-rsa` stands for the algorithms
 * rsa-sha2-512, rsa-sha2-256 and ssh-rsa).
 */
export async function knownKeyTypes(options: {
  readonly host: string;
  readonly port: number;
  readonly files: readonly string[];
}): Promise<string[]> {
  const name = knownHostsName(options.host, options.port);
  const entries = await readKnownHosts(options.files);
  const types = entries.filter((entry) => !entry.revoked && entryMatches(entry, name)).map((entry) => entry.keyType);
  return [...new Set(types)];
}

// file + name + key → the append that wrote it, so one process never records the same key twice
// even when many sub-nodes of a host accept it at once.
const added = new Map<string, Promise<void>>();

/** Appends a host key to a known_hosts file (parent dir 0700 and file 0600 when created), at most once per process. */
export function addKnownHost(options: {
  readonly file: string;
  readonly host: string;
  readonly port: number;
  readonly blob: Buffer;
  readonly hash?: boolean;
}): Promise<void> {
  const name = knownHostsName(options.host, options.port);
  const key = `${options.file}\0${name}\0${options.blob.toString('base64')}`;
  const pending = added.get(key);
  if (pending) return pending;
  const append = appendEntry(options.file, name, options.blob, options.hash ?? false);
  added.set(key, append);
  append.catch(() => added.delete(key));
  return append;
}

/** One paragraph, like OpenSSH's warning, for a host whose key differs from the recorded one (or is revoked). */
export function describeChangedKey(host: string, check: Extract<HostKeyCheck, { status: 'changed' | 'revoked' }>): string {
  const place = `${check.file}:${check.line}`;
  if (check.status === 'revoked') {
    return (
      `The host key of ${host} is revoked: it presented the ${check.knownType} key with fingerprint ` +
      `${check.fingerprint}, which ${place} marks @revoked, so pegasus refuses to connect. ` +
      'Ask the host\'s administrator for its current key.'
    );
  }
  return (
    `The host key of ${host} has changed: it presented a ${check.knownType} key with fingerprint ` +
    `${check.fingerprint}, but ${place} holds a different ${check.knownType} key for ${check.name}. ` +
    'Someone could be intercepting the connection (a man-in-the-middle attack), or the host key was just replaced. ' +
    `If you expected the change, remove the old key with: ssh-keygen -R ${shellQuote(check.name)} -f ${shellQuote(check.file)}`
  );
}

async function appendEntry(file: string, name: string, blob: Buffer, hash: boolean): Promise<void> {
  const type = keyTypeOf(blob);
  const recorded = hash ? hashName(name) : name;
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  // A file whose last line lacks its newline would otherwise swallow our entry into that line.
  const existing = await readIfExists(file);
  const separator = existing !== undefined && existing.length > 0 && !existing.endsWith('\n') ? '\n' : '';
  // One appendFile call, so appends from this process never interleave within a line.
  await appendFile(file, `${separator}${recorded} ${type} ${blob.toString('base64')}\n`, { mode: 0o600 });
}

function hashName(name: string): string {
  const salt = randomBytes(20);
  const hmac = createHmac('sha1', salt).update(name).digest();
  return `|1|${salt.toString('base64')}|${hmac.toString('base64')}`;
}

function entryMatches(entry: KnownHostEntry, name: string): boolean {
  if (entry.names.kind === 'patterns') {
    return matchPatternList(name, entry.names.patterns, { caseInsensitive: true });
  }
  return createHmac('sha1', entry.names.salt).update(name).digest().equals(entry.names.hmac);
}

function parseLine(text: string, file: string, line: number): KnownHostEntry | undefined {
  const fields = text.trim().split(/[ \t]+/);
  if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) return undefined;
  let revoked = false;
  if (fields[0].startsWith('@')) {
    // `@cert-authority` keys sign host certificates; ssh2 does not verify certificates, so they
    // never vouch for a plain key. Unknown markers are skipped, as OpenSSH does.
    if (fields[0] !== '@revoked') return undefined;
    revoked = true;
    fields.shift();
  }
  const [hosts, , base64] = fields;
  if (hosts === undefined || base64 === undefined) return undefined;
  const names = parseNames(hosts);
  const key = Buffer.from(base64, 'base64');
  const keyType = readKeyType(key);
  if (names === undefined || keyType === undefined) return undefined;
  return { file, line, revoked, names, keyType, key };
}

function parseNames(hosts: string): KnownHostNames | undefined {
  if (!hosts.startsWith('|')) return { kind: 'patterns', patterns: hosts.split(',') };
  const match = /^\|1\|([^|]+)\|([^|]+)$/.exec(hosts);
  if (!match) return undefined;
  return { kind: 'hashed', salt: Buffer.from(match[1] ?? '', 'base64'), hmac: Buffer.from(match[2] ?? '', 'base64') };
}

function readKeyType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || blob.length < 4 + length) return undefined;
  const type = blob.toString('latin1', 4, 4 + length);
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
