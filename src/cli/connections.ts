// The executors of a run: a local one for localhost sub-nodes, a pool of SSH connections for the rest.
import { isLocalHost, type SubNode } from '../config/hosts.js';
import { LocalExecutor } from '../exec/local.js';
import type { SshPool } from '../exec/pool.js';
import type { ExecutorOrError } from '../run/sessions.js';
import type { RunFlags } from './run-command.js';

/** The executors of a run's sub-nodes, shared per host. */
export interface Connections {
  readonly executorFor: (subnode: SubNode) => Promise<ExecutorOrError>;
  /** Closes one host's connections (it was drained or removed); using it again connects afresh. */
  readonly hangUp: (host: string) => Promise<void>;
  readonly close: () => Promise<void>;
}

/** Sets up the executors and starts connecting to every remote host at once (each host's first connection decides whether it is reachable). */
export async function openConnections(flags: RunFlags, subnodes: readonly SubNode[]): Promise<Connections> {
  const local = new LocalExecutor();
  // The local job runner boots (perl, a few ms) while the run reads its files.
  if (subnodes.some((s) => isLocalHost(s.host))) local.prepare();
  // ssh2 is loaded only when a remote host is named (at start, or later in an edited hosts.yaml), so local runs start fast.
  let remote: Promise<SshPool> | undefined;
  const pool = (): Promise<SshPool> =>
    (remote ??= import('../exec/pool.js').then(
      ({ SshPool }) =>
        new SshPool({
          ...(flags.sshConfig ? { configFile: flags.sshConfig } : {}),
          ...(flags.maxSessions ? { maxSessions: flags.maxSessions } : {}),
          ...(flags.maxStartups ? { maxStartups: flags.maxStartups } : {}),
        }),
    ));
  // The outcome is kept by the pool; the modes read it through executorFor.
  const hosts = new Set(subnodes.filter((s) => !isLocalHost(s.host)).map((s) => s.host));
  if (hosts.size > 0) {
    const ssh = await pool();
    for (const host of hosts) void ssh.executorFor(host);
  }
  return {
    executorFor: async (subnode) => (isLocalHost(subnode.host) ? { executor: local } : (await pool()).executorFor(subnode.host)),
    hangUp: async (host) => {
      if (!isLocalHost(host) && remote) await (await remote).hangUp(host);
    },
    close: async () => (remote ? (await remote).close() : undefined),
  };
}
