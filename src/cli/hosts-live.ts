// Wires live hosts.yaml into a run (issue 14): a watcher on the hosts file feeding the roster, started without delaying the first jobs.
import { readFile } from 'node:fs/promises';
import type { SubNode } from '../config/hosts.js';
import { checkEntry, parseQueue } from '../config/jobs.js';
import { ConfigError, formatPlace } from '../errors.js';
import type { RunEvent } from '../run/events.js';
import type { Roster } from '../run/roster.js';

/** Follows `hostsFile` for the run's lifetime; close() stops it. */
export function liveHosts(hostsFile: string, queueFile: string, roster: Roster, emit: (event: RunEvent) => void): { close: () => Promise<void> } {
  const stop = new AbortController();
  // The watcher and the follower load in the background: a short local run does not wait for them.
  const following = (async () => {
    const { QueueWatcher } = await import('../queue/watch.js');
    if (stop.signal.aborted) return;
    const watcher = await QueueWatcher.start(hostsFile);
    try {
      const { followHosts } = await import('../run/hosts-follow.js');
      await followHosts({ file: hostsFile, watcher, roster, emit, check: (subnodes) => checkQueueOn(queueFile, subnodes), signal: stop.signal });
    } finally {
      await watcher.close();
    }
  })().catch((error: unknown) => {
    // The run goes on with the hosts it has; say why edits are not followed.
    emit({ type: 'hosts-error', error: new ConfigError(`Edits of ${hostsFile} are not followed in this run: ${(error as Error).message}.`, { place: { file: hostsFile }, fix: 'Restart pegasus to use a changed hosts file.', cause: error }) });
  });
  return {
    close: async () => {
      stop.abort();
      await following;
    },
  };
}

/** The queue's entries must render on the new sub-nodes; a queue that does not parse is the queue's problem, reported by the run. */
async function checkQueueOn(queueFile: string, subnodes: readonly SubNode[]): Promise<void> {
  const text = await readFile(queueFile, 'utf8').catch(() => '');
  let entries;
  try {
    entries = parseQueue(text, queueFile);
  } catch {
    return;
  }
  try {
    for (const entry of entries) checkEntry(entry, subnodes);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const hostsFile = subnodes[0]?.place.file ?? 'the hosts file';
    throw new ConfigError(`The edit of ${hostsFile} is not applied: a queued job would not run on its hosts. ${error.place ? `${formatPlace(error.place)}: ` : ''}${error.message}`, {
      place: { file: hostsFile },
      fix: error.fix ? `${error.fix} Then save ${hostsFile} again.` : `Fix ${hostsFile} or the queue, then save ${hostsFile} again.`,
      cause: error,
    });
  }
}
