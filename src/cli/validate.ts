// Checking queue text that a user wrote (lock mode, push) against the hosts, when a hosts file is there.
import { existsSync } from 'node:fs';
import { loadHosts, type SubNode } from '../config/hosts.js';
import { checkEntry, type Entry } from '../config/jobs.js';

/**
 * The entry check to apply: structure always (parsing does that), and when the hosts file exists,
 * parameter clashes and templates on every sub-node too.
 */
export async function entryChecker(hostsFile: string): Promise<(entry: Entry) => void> {
  const subnodes: readonly SubNode[] = existsSync(hostsFile) ? await loadHosts(hostsFile) : [];
  return (entry) => checkEntry(entry, subnodes);
}
