// A test fleet: real OpenSSH sshd processes on 127.0.0.2, 127.0.0.3, … sharing one port, and an ssh config naming them node1, node2, …
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { promisify } from 'node:util';
import { hasExited, stopChild, track } from './pids.js';
import { freezeTree, signalQuietly, waitGone } from './procs.js';
import { makeTmpDir, removeTmpDir } from './tmp.js';

const SSHD = '/usr/sbin/sshd';
/** The default login user of test fleets. */
export const TEST_USER = 'pegasus-test';

/** Creates the test user (shell /bin/sh, which reads no startup file for `sh -c`) unless it exists. */
async function ensureTestUser(): Promise<void> {
  try {
    await run('id', ['-u', TEST_USER]);
  } catch {
    await run('useradd', ['--create-home', '--shell', '/bin/sh', TEST_USER]);
  }
}
const run = promisify(execFile);

/** Login shells the fleet can give a test user (issue 13), by name; `ash` is BusyBox's, reached through a link named ash. */
export const LOGIN_SHELLS: Readonly<Record<string, string>> = {
  sh: '/bin/sh',
  bash: '/bin/bash',
  dash: '/bin/dash',
  zsh: '/usr/bin/zsh',
  fish: '/usr/bin/fish',
  tcsh: '/usr/bin/tcsh',
  csh: '/usr/bin/bsd-csh',
  mksh: '/usr/bin/mksh',
  ash: '/usr/local/lib/pegasus-test/ash',
  nologin: '/usr/sbin/nologin',
};

/**
 * A user whose login shell is LOGIN_SHELLS[name], created (or its shell set) when needed:
 * `pegasus-sh-NAME`, or `pegasus-sh-NAME-VARIANT` for one whose home a test changes.
 * BusyBox dispatches on its program name, so ash is a link named ash.
 */
export async function ensureShellUser(name: string, variant?: string): Promise<string> {
  const shell = LOGIN_SHELLS[name];
  if (!shell) throw new Error(`no login shell named ${name}`);
  if (name === 'ash') {
    await mkdir(path.dirname(shell), { recursive: true });
    await symlink('/bin/busybox', shell).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
  const user = `pegasus-sh-${name}${variant ? `-${variant}` : ''}`;
  try {
    await run('id', ['-u', user]);
    await run('usermod', ['--shell', shell, user]);
  } catch {
    await run('useradd', ['--create-home', '--shell', shell, user]);
  }
  return user;
}

/** An ssh config block naming `alias` for a fleet host, logging in as `user` (with the fleet's key and known_hosts). */
export function aliasBlock(fleet: Fleet, host: FleetHost, alias: string, user: string): string {
  return clientBlock({ ...host, alias }, { user, clientKeyPath: fleet.clientKeyPath, knownHostsPath: fleet.knownHostsPath });
}

/** One sshd of the fleet. */
export interface FleetHost {
  /** The ssh config alias: node1, node2, … */
  readonly alias: string;
  /** 127.0.0.2, 127.0.0.3, … */
  readonly address: string;
  readonly port: number;
  /** PID of the listening sshd. */
  readonly pid: number;
  readonly hostKeyPath: string;
  readonly hostKeyPubPath: string;
  readonly sshdConfigPath: string;
  /** Everything this sshd and its sessions logged (sshd -e). */
  readonly logPath: string;
  /** Kills this host's sshd and every session below it, by PID; the other hosts keep running. Idempotent. */
  stopHost(): Promise<void>;
}

export interface Fleet {
  readonly dir: string;
  readonly sshConfigPath: string;
  /** Starts absent: `StrictHostKeyChecking accept-new` fills it on first contact. */
  readonly knownHostsPath: string;
  readonly clientKeyPath: string;
  readonly port: number;
  readonly user: string;
  readonly hosts: readonly FleetHost[];
  /** Stops every host (listeners and sessions) by PID and removes the folder. Idempotent. */
  stop(): Promise<void>;
}

export interface FleetOptions {
  readonly hosts: number;
  /**
   * Login user written into the ssh config. By default a test user with /bin/sh as its shell
   * (created when missing): root's login shell here sources ~/.bashrc, whose `pyenv rehash`
   * waits 60 s on a lock left behind whenever a session is killed in the middle of it.
   */
  readonly user?: string;
  /** Gives up starting (default: after 30 s). */
  readonly signal?: AbortSignal;
  /** Extra sshd_config lines for every host, e.g. `MaxSessions 2`. */
  readonly sshdConfig?: readonly string[];
  /** Extra sshd_config lines for host `index` (0-based) only, e.g. a `SetEnv` that differs per host. */
  readonly hostSshdConfig?: (index: number) => readonly string[];
}

/** Starts `hosts` sshd processes in parallel on 127.0.0.2… (one shared free port) and writes an ssh config naming them node1… */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const signal = options.signal ?? AbortSignal.timeout(30_000);
  const user = options.user ?? TEST_USER;
  if (user === TEST_USER) await ensureTestUser();
  const dir = await makeTmpDir('pegasus-fleet-');
  try {
    // sshd reads authorized_keys as the login user, so a non-root user must be able to reach it.
    await chmod(dir, 0o755);
    // sshd's privilege separation directory: without it sshd exits at once ("Missing privilege separation directory").
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    const indexes = Array.from({ length: options.hosts }, (_, i) => i);
    const [clientKeyPath, ...hostKeys] = await Promise.all([
      makeKey(path.join(dir, 'client_key')),
      ...indexes.map((i) => makeKey(path.join(dir, `host_key_${i}`))),
    ]);
    const authorizedKeys = path.join(dir, 'authorized_keys');
    await writeFile(authorizedKeys, await readFile(`${clientKeyPath}.pub`), { mode: 0o644 });
    // With UsePAM no, sshd refuses a locked account ("!" in /etc/shadow, what useradd leaves) even for a key;
    // root is rarely locked, and PAM's session modules cost time, so only other users get PAM.
    const usePam = user !== 'root';
    const { port, sshds } = await startAll({ dir, hostKeys, authorizedKeys, usePam, signal, extra: options.sshdConfig ?? [], ...(options.hostSshdConfig ? { hostExtra: options.hostSshdConfig } : {}) });
    const hosts = sshds.map((s, i): FleetHost => {
      const hostKeyPath = hostKeys[i] ?? '';
      let stopping: Promise<void> | undefined;
      return {
        alias: `node${i + 1}`,
        address: s.address,
        port,
        pid: s.pid,
        hostKeyPath,
        hostKeyPubPath: `${hostKeyPath}.pub`,
        sshdConfigPath: s.configPath,
        logPath: s.logPath,
        stopHost: () => (stopping ??= stopSshd(s)),
      };
    });
    const sshConfigPath = path.join(dir, 'ssh_config');
    const knownHostsPath = path.join(dir, 'known_hosts');
    await writeFile(sshConfigPath, hosts.map((h) => clientBlock(h, { user, clientKeyPath, knownHostsPath })).join('\n'));
    let stopping: Promise<void> | undefined;
    const stop = async (): Promise<void> => {
      const stopped = await Promise.allSettled(hosts.map((h) => h.stopHost()));
      await removeTmpDir(dir);
      const failed = stopped.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    };
    return { dir, sshConfigPath, knownHostsPath, clientKeyPath, port, user, hosts, stop: () => (stopping ??= stop()) };
  } catch (error) {
    await removeTmpDir(dir);
    throw error;
  }
}

/** Generates an ed25519 key pair without passphrase at `file` and `file`.pub; returns `file`. */
export async function makeKey(file: string): Promise<string> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'pegasus-test', '-f', file]);
  return file;
}

/** The known_hosts line for a fleet host, exactly as OpenSSH writes it: `[127.0.0.N]:P ssh-ed25519 AAAA…`. */
export async function knownHostsLine(host: FleetHost, keyPubPath = host.hostKeyPubPath): Promise<string> {
  const [type, blob] = (await readFile(keyPubPath, 'utf8')).trim().split(/\s+/);
  return `[${host.address}]:${host.port} ${type} ${blob}`;
}

let wrongKeys = 0;

/** A known_hosts line that pins a freshly generated key, not the host's own, to that host (a "changed host key"). */
export async function wrongKnownHostsLine(host: FleetHost): Promise<string> {
  const key = await makeKey(path.join(path.dirname(host.hostKeyPath), `wrong_key_${host.alias}_${++wrongKeys}`));
  return knownHostsLine(host, `${key}.pub`);
}

export interface SshResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface SshRunOptions {
  /** More `-o` options, e.g. `StrictHostKeyChecking=yes`; they win over the config file. */
  readonly options?: readonly string[];
  readonly signal?: AbortSignal;
  /** Called with everything printed on stdout so far, after each chunk (to wait for a line). */
  readonly onStdout?: (soFar: string) => void;
}

/** Runs `command` on `alias` with the system ssh client (`-F` the fleet's config, BatchMode) and collects what it printed. */
export function sshRun(fleet: Pick<Fleet, 'sshConfigPath'>, alias: string, command: string, options: SshRunOptions = {}): Promise<SshResult> {
  return new Promise((resolve, reject) => {
    const extra = (options.options ?? []).flatMap((o) => ['-o', o]);
    const args = ['-F', fleet.sshConfigPath, '-o', 'BatchMode=yes', ...extra, alias, command];
    const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'], ...(options.signal ? { signal: options.signal } : {}) });
    child.on('error', reject);
    if (child.pid === undefined) return;
    track(child, `ssh ${alias} ${command}`);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      options.onStdout?.(stdout);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** A running sshd listener. */
interface Sshd {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly address: string;
  readonly configPath: string;
  readonly logPath: string;
  readonly log: WriteStream;
  /** Settles on the child's 'close': it has exited and its stderr (shared with its sessions) is closed. */
  readonly closed: Promise<unknown>;
}

/** sshd could not bind: another process took the port between our check and its start. */
class PortTaken extends Error {}

interface StartAll {
  readonly dir: string;
  readonly hostKeys: readonly string[];
  readonly authorizedKeys: string;
  readonly usePam: boolean;
  readonly signal: AbortSignal;
  readonly extra: readonly string[];
  readonly hostExtra?: (index: number) => readonly string[];
}

/** Starts one sshd per host key on one port, all in parallel; on a lost port race, stops them all and tries another port. */
async function startAll(o: StartAll): Promise<{ port: number; sshds: Sshd[] }> {
  const addresses = o.hostKeys.map((_, i) => `127.0.0.${i + 2}`);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort(addresses);
    const settled = await Promise.allSettled(
      addresses.map((address, i) => startSshd({ ...o, index: i, address, port, hostKey: o.hostKeys[i] ?? '' })),
    );
    const sshds = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (sshds.length === addresses.length) return { port, sshds };
    await Promise.all(sshds.map(stopSshd));
    const failure: unknown = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')?.reason;
    if (!(failure instanceof PortTaken) || attempt === 5) throw failure;
  }
}

interface StartSshd extends StartAll {
  readonly index: number;
  readonly address: string;
  readonly port: number;
  readonly hostKey: string;
}

async function startSshd(o: StartSshd): Promise<Sshd> {
  const configPath = path.join(o.dir, `sshd_config_${o.index}`);
  const logPath = path.join(o.dir, `sshd_${o.index}.log`);
  await writeFile(
    configPath,
    [
      `ListenAddress ${o.address}:${o.port}`,
      `HostKey ${o.hostKey}`,
      `PidFile ${path.join(o.dir, `sshd_${o.index}.pid`)}`,
      `AuthorizedKeysFile ${o.authorizedKeys}`,
      'StrictModes no',
      `UsePAM ${o.usePam ? 'yes' : 'no'}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'LogLevel INFO',
      ...o.extra,
      ...(o.hostExtra?.(o.index) ?? []),
      '',
    ].join('\n'),
  );
  // -D: stay in the foreground, so the PID we hold is the listener; -e: log to stderr, where readiness shows.
  const child = spawn(SSHD, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  const log = createWriteStream(logPath);
  child.stderr.pipe(log);
  const closed = once(child, 'close').catch(() => undefined);
  const sshd = { child, pid: child.pid ?? 0, address: o.address, configPath, logPath, log, closed };
  if (child.pid !== undefined) track(child, `sshd ${o.address}:${o.port}`);
  try {
    await listening(child, `Server listening on ${o.address} port ${o.port}.`, o.signal);
    return sshd;
  } catch (error) {
    await stopSshd(sshd);
    throw error;
  }
}

/** Resolves when sshd prints `line` on stderr; rejects with what it printed if it ends first or `signal` fires. */
function listening(child: ChildProcess, line: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      if (text.includes(line)) settle();
    };
    // 'close', not 'exit': only then has all of stderr been read.
    const onClose = (code: number | null, sig: NodeJS.Signals | null): void =>
      settle(text.includes('Address already in use') ? new PortTaken(text) : new Error(`sshd ended (${sig ?? code}) before listening: ${text}`));
    const onError = (error: Error): void => settle(error);
    const onAbort = (): void => settle(new Error(`sshd did not print "${line}" in time; it printed: ${text}`, { cause: signal.reason }));
    function settle(error?: Error): void {
      child.stderr?.off('data', onData);
      child.off('close', onClose).off('error', onError);
      signal.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    }
    child.stderr?.on('data', onData);
    child.on('close', onClose).on('error', onError);
    signal.addEventListener('abort', onAbort);
    if (signal.aborted) onAbort();
  });
}

/**
 * Kills an sshd and its sessions. Sessions (`sshd: root@notty` and the commands below them) call setsid,
 * so no process group holds them all: freeze the tree under the listener, SIGKILL the sessions, then TERM the listener.
 */
async function stopSshd(s: Sshd): Promise<void> {
  // pid 0 means spawn failed; never signal it (0 and -1 reach whole groups).
  if (s.pid > 0 && !hasExited(s.child)) {
    const sessions = await freezeTree(s.pid);
    for (const pid of sessions) signalQuietly(pid, 'SIGKILL');
    // Dead sessions leave their SIGCHLD pending at the frozen listener, whose handler reaps them on resuming
    // (deeper orphans go to init); the TERM pending too makes it exit before it can accept another connection.
    try {
      await waitGone(sessions, AbortSignal.timeout(5000));
    } finally {
      signalQuietly(s.pid, 'SIGTERM');
      signalQuietly(s.pid, 'SIGCONT');
      await stopChild(s.child);
    }
  }
  // Sessions log to the same stderr pipe, so it closes only once they are all gone.
  await s.closed;
  s.log.end();
  await finished(s.log);
}

/** A port free on every fleet address (the hosts differ by address, so they can share it). */
async function freePort(addresses: readonly string[]): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    if ((await Promise.all(addresses.map((a) => canListen(a, port)))).every(Boolean)) return port;
  }
  throw new Error(`no port in 20000-60000 is free on all of ${addresses.join(', ')}`);
}

function canListen(address: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(false) : reject(error)));
    server.listen({ port, host: address, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function clientBlock(host: FleetHost, o: { user: string; clientKeyPath: string; knownHostsPath: string }): string {
  return [
    `Host ${host.alias}`,
    `  HostName ${host.address}`,
    `  Port ${host.port}`,
    `  User ${o.user}`,
    `  IdentityFile ${o.clientKeyPath}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${o.knownHostsPath}`,
    '  StrictHostKeyChecking accept-new',
    '',
  ].join('\n');
}
