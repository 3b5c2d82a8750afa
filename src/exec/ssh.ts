// Opening one ssh2 connection to a host the way OpenSSH would: its config, keys, agent, known_hosts and ProxyJump.
import { existsSync, readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import ssh2, { type AnyAuthMethod, type Client, type ClientChannel, type ConnectConfig, type ServerHostKeyAlgorithm } from 'ssh2';
import { ConfigError, TransportError, type TransportReason } from '../errors.js';
import { addKnownHost, checkHostKey, describeChangedKey, fingerprint, knownKeyTypes } from './known-hosts.js';
import { dial, Link, type Keepalive } from './link.js';
import { resolveHost, type ResolvedHost } from './ssh-config.js';

export interface ConnectOptions {
  /** OpenSSH client config file to use instead of ~/.ssh/config (--ssh-config). */
  readonly configFile?: string;
  readonly signal?: AbortSignal;
}

/** Keepalive defaults when the config sets no ServerAliveInterval: a silent host is given up after 15 s (issues 5, 13). */
const KEEPALIVE_MS = 5000;
const KEEPALIVE_COUNT = 3;
/** A host that accepts TCP but never finishes the handshake is given up after this long. */
const HANDSHAKE_MS = 20000;

/** The algorithm names ssh2 negotiates for each known_hosts key type. */
const ALGORITHMS_OF_TYPE: Readonly<Record<string, readonly string[]>> = {
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};
const DEFAULT_HOST_KEY_ALGORITHMS: readonly ServerHostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/**
 * Connects to a host named as in hosts.yaml (an ssh config alias or an address). Resolves with the
 * link of a ready client (Nagle's algorithm off, the liveness deadline running); rejects with a
 * TransportError saying why.
 */
export async function connect(host: string, options: ConnectOptions = {}): Promise<Link> {
  let resolved: ResolvedHost;
  try {
    resolved = await resolveHost(host, { ...(options.configFile ? { configFile: options.configFile } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  } catch (error) {
    const message = error instanceof ConfigError ? error.describe() : (error as Error).message;
    throw new TransportError(host, 'config', `cannot read the ssh configuration for ${host}: ${message}`, { cause: error });
  }
  if (resolved.proxyCommand && !resolved.proxyJump) {
    throw new TransportError(
      host,
      'config',
      `the ssh config for ${host} uses ProxyCommand, which pegasus cannot run; use ProxyJump instead (ProxyJump user@jumphost).`,
    );
  }
  if (!resolved.proxyJump) return handshake(host, resolved, undefined, options.signal);
  const jump = await jumpSocket(resolved, options);
  const endJumps = (): void => jump.links.forEach((l) => void l.hangUp());
  try {
    // Dropping the stream alone would wait for the jump host to confirm; dropping the jumps closes it at once.
    const via = { stream: jump.stream, drop: () => jump.links.forEach((l) => l.drop()) };
    const link = await handshake(host, resolved, via, options.signal);
    // The jump connections live exactly as long as the connection they carry.
    link.client.on('close', endJumps);
    return link;
  } catch (error) {
    endJumps();
    throw error;
  }
}

/** Opens the ProxyJump chain (`a,b` means through a, then b): a stream to the target and the clients carrying it. */
async function jumpSocket(
  target: ResolvedHost,
  options: ConnectOptions,
): Promise<{ stream: ClientChannel; links: Link[] }> {
  const hops = (target.proxyJump ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  const first = hops.shift();
  if (!first) throw new TransportError(target.alias, 'config', `empty ProxyJump for ${target.alias}`);
  // Each hop is resolved through the same config, as OpenSSH does (user@host:port forms included).
  const links = [await connect(jumpSpec(first), options)];
  const dropAll = (): void => links.forEach((l) => l.drop());
  try {
    for (const hop of hops) {
      const next = await resolveHost(jumpSpec(hop), options.configFile ? { configFile: options.configFile } : {});
      const stream = await forward(links[links.length - 1]!.client, next.hostname, next.port, target.alias);
      links.push(await handshake(hop, next, { stream, drop: dropAll }, options.signal));
    }
    return { stream: await forward(links[links.length - 1]!.client, target.hostname, target.port, target.alias), links };
  } catch (error) {
    links.forEach((l) => void l.hangUp());
    throw error;
  }
}

/** `user@host:port` → an ssh destination `ssh -G` understands (`ssh://user@host:port`). */
function jumpSpec(hop: string): string {
  return /:\d+$/.test(hop) && !hop.startsWith('ssh://') ? `ssh://${hop}` : hop;
}

function forward(client: Client, host: string, port: number, forHost: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    client.forwardOut('127.0.0.1', 0, host, port, (error, stream) => {
      if (error) reject(new TransportError(forHost, 'refused', `the jump host could not reach ${host}:${port}: ${error.message}`, { cause: error }));
      else resolve(stream);
    });
  });
}

/** A stream to the host through jump hosts, and how to tear it down at once. */
interface Via {
  readonly stream: ClientChannel;
  readonly drop: () => void;
}

/** OpenSSH's ServerAliveInterval and ServerAliveCountMax, or pegasus's defaults when the config sets no interval. */
function keepaliveOf(resolved: ResolvedHost): Keepalive {
  return resolved.serverAliveIntervalSec > 0
    ? { intervalMs: resolved.serverAliveIntervalSec * 1000, countMax: resolved.serverAliveCountMax }
    : { intervalMs: KEEPALIVE_MS, countMax: KEEPALIVE_COUNT };
}

function handshake(host: string, resolved: ResolvedHost, via: Via | undefined, signal?: AbortSignal): Promise<Link> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    // With HostKeyAlias, OpenSSH records and looks up the alias without a port.
    const knownName = resolved.hostKeyAlias ?? resolved.hostname;
    const knownPort = resolved.hostKeyAlias ? 22 : resolved.port;
    let hostKeyProblem: TransportError | undefined;
    let link: Link | undefined;
    let settled = false;
    // A connection given up before it is ready has nothing to say to the server: it is torn down at
    // once (a polite end() to a silent host would leave a half-closed socket that never closes).
    const fail = (error: TransportError): void => {
      signal?.removeEventListener('abort', onAbort);
      link?.drop();
      if (!settled) reject(error);
      settled = true;
    };
    const onAbort = (): void => fail(new TransportError(host, 'other', `connecting to ${host} was cancelled`));
    signal?.addEventListener('abort', onAbort, { once: true });

    const verify = (key: Buffer, callback: (ok: boolean) => void): void => {
      const files = resolved.userKnownHostsFiles.concat(resolved.globalKnownHostsFiles);
      checkHostKey({ host: knownName, port: knownPort, blob: key, files })
        .then(async (check) => {
          if (check.status === 'known') return callback(true);
          if (check.status === 'unknown') {
            if (resolved.strictHostKeyChecking === 'yes') {
              hostKeyProblem = new TransportError(
                host,
                'host-key',
                `the host key of ${host} (${fingerprint(key)}) is not in known_hosts and StrictHostKeyChecking is yes; connect once with ssh, or add it with ssh-keyscan.`,
              );
              return callback(false);
            }
            // accept-new: remember a host we have not seen before, as OpenSSH does.
            const file = resolved.userKnownHostsFiles[0];
            if (file) await addKnownHost({ file, host: knownName, port: knownPort, blob: key, hash: resolved.hashKnownHosts });
            return callback(true);
          }
          hostKeyProblem = new TransportError(host, 'host-key', describeChangedKey(host, check));
          return callback(false);
        })
        .catch((error: unknown) => {
          hostKeyProblem = new TransportError(host, 'host-key', `cannot check the host key of ${host}: ${(error as Error).message}`);
          callback(false);
        });
    };

    client.on('ready', () => {
      signal?.removeEventListener('abort', onAbort);
      client.setNoDelay(true); // DESIGN: with Nagle on, each exec costs ~36 ms of delayed ACKs
      if (!link) return; // cannot happen: ssh2 is ready only after connect() below
      link.watch(keepaliveOf(resolved));
      settled = true;
      resolve(link);
    });
    client.on('error', (error: Error & { level?: string; code?: string }) => {
      // After 'ready' an error leaves the connection unusable (ssh2 may only half-close it): it is
      // torn down, and the pool hears of it through its own 'error' and 'close' listeners.
      if (settled) return void link?.drop();
      fail(hostKeyProblem ?? classify(host, resolved, error));
    });

    knownKeyTypes({ host: knownName, port: knownPort, files: resolved.userKnownHostsFiles.concat(resolved.globalKnownHostsFiles) })
      .then((types) => {
        const preferred = types.flatMap((t) => ALGORITHMS_OF_TYPE[t] ?? [t]);
        const serverHostKey = [...new Set([...preferred, ...DEFAULT_HOST_KEY_ALGORITHMS])].filter((a): a is ServerHostKeyAlgorithm =>
          (DEFAULT_HOST_KEY_ALGORITHMS as readonly string[]).includes(a),
        );
        if (settled) return; // cancelled while known_hosts was read
        // pegasus opens the socket itself, so that it can hear every byte and destroy it in any state (link.ts).
        const stream: Duplex = via?.stream ?? dial(resolved.hostname, resolved.port);
        link = new Link(client, stream, via ? () => (via.stream.destroy(), via.drop()) : () => stream.destroy());
        client.connect({
          host: resolved.hostname,
          port: resolved.port,
          username: resolved.user,
          sock: stream,
          authHandler: authMethods(resolved),
          hostVerifier: verify as unknown as ConnectConfig['hostVerifier'],
          algorithms: { serverHostKey },
          readyTimeout: resolved.connectTimeoutSec ? resolved.connectTimeoutSec * 1000 : HANDSHAKE_MS,
          // The link keeps the deadline (ServerAliveInterval/CountMax); ssh2's own would only race it.
          keepaliveInterval: 0,
        });
      })
      .catch((error: unknown) => fail(new TransportError(host, 'other', (error as Error).message, { cause: error })));
  });
}

/** The authentication attempts OpenSSH would make: the agent, then each identity file that loads without a passphrase. */
function authMethods(resolved: ResolvedHost): AnyAuthMethod[] {
  const methods: AnyAuthMethod[] = [];
  const agent = resolved.identityAgent ?? process.env.SSH_AUTH_SOCK;
  if (agent && !resolved.identitiesOnly) methods.push({ type: 'agent', username: resolved.user, agent });
  for (const file of resolved.identityFiles) {
    if (!existsSync(file)) continue;
    let text: Buffer;
    try {
      text = readFileSync(file);
    } catch {
      continue;
    }
    const parsed = ssh2.utils.parseKey(text);
    if (parsed instanceof Error) continue; // encrypted without a passphrase, or not a key: the agent may hold it
    methods.push({ type: 'publickey', username: resolved.user, key: text });
  }
  if (agent && resolved.identitiesOnly) methods.push({ type: 'agent', username: resolved.user, agent });
  return methods;
}

/** Turns a connection error into a TransportError that names the host and the reason in words. */
function classify(host: string, resolved: ResolvedHost, error: Error & { level?: string; code?: string }): TransportError {
  const where = `${resolved.hostname}:${resolved.port}`;
  const table: Record<string, [TransportReason, string]> = {
    ENOTFOUND: ['dns', `the name ${resolved.hostname} does not resolve (DNS)`],
    EAI_AGAIN: ['dns', `the name ${resolved.hostname} could not be looked up (DNS temporarily unavailable)`],
    ECONNREFUSED: ['refused', `${where} refused the connection (is sshd running, and is the port right?)`],
    EHOSTUNREACH: ['refused', `${where} is unreachable (no route to host)`],
    ENETUNREACH: ['refused', `${where} is unreachable (network unreachable)`],
    ETIMEDOUT: ['timeout', `${where} did not answer (connection timed out)`],
    ECONNRESET: ['lost', `${where} reset the connection`],
  };
  const known = error.code ? table[error.code] : undefined;
  if (known) return new TransportError(host, known[0], `cannot connect to ${host}: ${known[1]}.`, { cause: error });
  if (error.level === 'client-timeout') {
    return new TransportError(host, 'timeout', `cannot connect to ${host}: ${where} accepted TCP but did not complete the SSH handshake in time.`, { cause: error });
  }
  if (error.level === 'client-authentication') {
    return new TransportError(
      host,
      'auth',
      `cannot log in to ${host} as ${resolved.user}: every key was refused (tried ${resolved.identityFiles.filter((f) => existsSync(f)).join(', ') || 'no key file'}${process.env.SSH_AUTH_SOCK ? ' and the agent' : ''}). Check that your public key is in ~/.ssh/authorized_keys there, or load it into ssh-agent.`,
      { cause: error },
    );
  }
  return new TransportError(host, 'other', `cannot connect to ${host}: ${error.message}.`, { cause: error });
}
