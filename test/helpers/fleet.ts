// A test fleet: real OpenSSH sshd processes on 127.0.0.2, 127.0.0.3, … with their own host keys and an ssh config for them.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SSHD = '/usr/sbin/sshd';

/** One sshd of the fleet. */
export interface FleetHost {
  /** The ssh config alias: node1, node2, … */
  readonly alias: string;
  readonly address: string;
  readonly port: number;
  readonly hostKeyPub: string;
  /** PID of the listening sshd. */
  readonly pid: number;
}

export interface Fleet {
  readonly dir: string;
  readonly sshConfigPath: string;
  readonly knownHostsPath: string;
  readonly hosts: readonly FleetHost[];
  /** Stops every sshd (and its session processes) by PID and removes the folder. */
  stop(): Promise<void>;
}

/** A known_hosts line for a fleet host, exactly as OpenSSH would write it. */
export async function knownHostsLine(host: FleetHost, keyPubPath = host.hostKeyPub): Promise<string> {
  const [type, blob] = (await readFile(keyPubPath, 'utf8')).trim().split(/\s+/);
  return `[${host.address}]:${host.port} ${type} ${blob}`;
}

/** Generates an ed25519 key pair without passphrase; returns the private key path. */
export async function makeKey(file: string): Promise<string> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'pegasus-test', '-f', file]);
  return file;
}

/** Starts `count` sshd processes on 127.0.0.2… and writes an ssh config naming them node1… */
export async function startFleet(options: { readonly hosts: number }): Promise<Fleet> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-fleet-'));
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
  const clientKey = await makeKey(path.join(dir, 'client_key'));
  await writeFile(path.join(dir, 'authorized_keys'), await readFile(`${clientKey}.pub`));
  const children: ChildProcess[] = [];
  const hosts: FleetHost[] = [];
  try {
    const port = await freePort(options.hosts);
    for (let i = 0; i < options.hosts; i++) {
      const host = await startHost(dir, i, port, children);
      hosts.push(host);
    }
  } catch (error) {
    await stopAll(children);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const sshConfigPath = path.join(dir, 'ssh_config');
  const knownHostsPath = path.join(dir, 'known_hosts');
  await writeFile(
    sshConfigPath,
    hosts
      .map((h) =>
        [
          `Host ${h.alias}`,
          `  HostName ${h.address}`,
          `  Port ${h.port}`,
          '  User root',
          `  IdentityFile ${clientKey}`,
          '  IdentitiesOnly yes',
          `  UserKnownHostsFile ${knownHostsPath}`,
          '  StrictHostKeyChecking accept-new',
          '',
        ].join('\n'),
      )
      .join('\n'),
  );
  return {
    dir,
    sshConfigPath,
    knownHostsPath,
    hosts,
    stop: async () => {
      await stopAll(children);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function startHost(dir: string, i: number, port: number, children: ChildProcess[]): Promise<FleetHost> {
  const address = `127.0.0.${i + 2}`;
  const hostKey = await makeKey(path.join(dir, `host_key_${i}`));
  const config = path.join(dir, `sshd_config_${i}`);
  await writeFile(
    config,
    [
      `ListenAddress ${address}:${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, `sshd_${i}.pid`)}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'LogLevel INFO',
      '',
    ].join('\n'),
  );
  // -D: stay in the foreground so the PID we hold is the listener; -e: log to stderr, where readiness shows.
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (log.includes(`Server listening on ${address} port ${port}`)) {
        child.stderr?.off('data', onData);
        child.stderr?.resume(); // keep draining so sshd never blocks on a full pipe
        resolve();
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`sshd on ${address}:${port} exited with ${code}: ${log}`)));
  });
  return { alias: `node${i + 1}`, address, port, hostKeyPub: `${hostKey}.pub`, pid: child.pid ?? -1 };
}

/** A port free on every fleet address (the hosts differ by address, so they can share it). */
async function freePort(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    let free = true;
    for (let i = 0; i < count && free; i++) free = await canListen(`127.0.0.${i + 2}`, port);
    if (free) return port;
  }
  throw new Error('no free port found for the test fleet');
}

function canListen(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, address, () => server.close(() => resolve(true)));
  });
}

/** Kills each sshd listener and every process below it (session processes), by PID, and waits for the listeners to exit. */
async function stopAll(children: readonly ChildProcess[]): Promise<void> {
  const pids = children.flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
  const all = [...(await descendantsOf(pids)), ...pids];
  const exits = children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once('exit', r)));
  for (const pid of all) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.all(exits);
}

/** Every process whose parent chain leads to one of `roots`, read from /proc. */
export async function descendantsOf(roots: readonly number[]): Promise<number[]> {
  const parents = new Map<number, number>();
  const { readdir } = await import('node:fs/promises');
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may contain spaces and parentheses
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(name), ppid);
    } catch {
      // exited while we looked
    }
  }
  const found = new Set<number>();
  let frontier = new Set(roots);
  while (frontier.size > 0) {
    const next = new Set<number>();
    for (const [pid, ppid] of parents) {
      if (frontier.has(ppid) && !found.has(pid)) {
        found.add(pid);
        next.add(pid);
      }
    }
    frontier = next;
  }
  return [...found];
}
