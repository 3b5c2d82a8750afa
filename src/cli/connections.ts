// The executors of a run: a local one for localhost sub-nodes, a pool of SSH connections for the rest.
import { isLocalHost, type SubNode } from '../config/hosts.js';
import { LocalExecutor } from '../exec/local.js';
import { type ExecutorOrError } from '../run/sessions.js';
import { type RunFlags } from './run-command.js';

/** The executors of a run's sub-nodes, shared per host. */
export interface Connections {
  readonly executorFor: (subnode: SubNode) => Promise<ExecutorOrError>;
  readonly close: () => Promise<void>;
}

/** Sets up the executors and starts connecting to every remote host at once (each host's first connection decides whether it is reachable). */
export async function openConnections(flags: RunFlags, subnodes: readonly SubNode[]): Promise<Connections> {
  const local = new LocalExecutor();
  // ssh2 is loaded only when a remote host is named, so local runs start fast.
  const remote = subnodes.some((s) => !isLocalHost(s.host))
    ? new (await import('../exec/pool.js')).SshPool({
        ...(flags.sshConfig ? { configFile: flags.sshConfig } : {}),
        ...(flags.maxSessions ? { maxSessions: flags.maxSessions } : {}),
        ...(flags.maxStartups ? { maxStartups: flags.maxStartups } : {}),
      })
    : undefined;
  // The outcome is kept by the pool; the modes read it through executorFor.
  if (remote) for (const host of new Set(subnodes.filter((s) => !isLocalHost(s.host)).map((s) => s.host))) void remote.executorFor(host);
  return {
    executorFor: async (subnode) => (isLocalHost(subnode.host) || !remote ? { executor: local } : remote.executorFor(subnode.host)),
    close: async () => remote?.close(),
  };
}

