// The run's sub-nodes as they change (issue 14): who is in the run, and where each one stands: taking jobs, paused, draining, drained, or leaving because hosts.yaml no longer lists it.
import type { SubNode } from '../config/hosts.js';
import type { RunEvent } from './events.js';
import { refOf } from './sessions.js';

/**
 * Where a sub-node stands. `paused`: starts no job, keeps its connection. `draining`: starts no
 * job and leaves once its running jobs end; then `drained`: its host is hung up (`resume` brings
 * it back). `removing`: gone from hosts.yaml, leaves once its jobs end; then `removed`, for good.
 */
export type Standing = 'taking' | 'paused' | 'draining' | 'drained' | 'removing' | 'removed';

interface Member {
  subnode: SubNode;
  removed: boolean;
  /** Its loops have ended: it runs nothing and, once its host has no other member running, holds no connection. */
  parked: boolean;
  standing: Standing;
  /** Its new definition (hosts.yaml changed its slots), which joins once this one has left. */
  successor?: SubNode;
}

/** What an edit of hosts.yaml changed. */
export interface RosterChange {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

export class Roster {
  private readonly emit: (event: RunEvent) => void;
  private readonly members = new Map<string, Member>();
  private nextIndex = 0;
  /** `pegasus pause` with no argument: the run takes nothing. */
  private paused = false;
  /** Hosts or sub-node labels paused by name (a sub-node added later on a paused host is paused too). */
  private readonly held = new Set<string>();
  /** Hosts or sub-node labels drained by name. */
  private readonly drains = new Set<string>();
  private joinListener: ((subnode: SubNode) => void) | undefined;
  private listeners: (() => void)[] = [];

  constructor(subnodes: readonly SubNode[], emit: (event: RunEvent) => void) {
    this.emit = emit;
    for (const subnode of subnodes) this.admit(subnode, false);
  }

  /** The sub-nodes in the run, in the order they joined (removed ones that still run a job included). */
  get subnodes(): SubNode[] {
    return [...this.members.values()].map((m) => m.subnode);
  }

  /** Whether the run as a whole takes jobs. */
  get taking(): boolean {
    return !this.paused;
  }

  /** Where a sub-node stands now. */
  standing(subnode: SubNode): Standing {
    return this.memberOf(subnode)?.standing ?? 'removed';
  }

  /** Whether a sub-node may start a job now. */
  mayPlace(subnode: SubNode): boolean {
    return !this.paused && this.standing(subnode) === 'taking';
  }

  /** Whether a sub-node is leaving the run (drain, or no longer in hosts.yaml): its loops end once its jobs do. */
  isLeaving(subnode: SubNode): boolean {
    const standing = this.standing(subnode);
    return standing !== 'taking' && standing !== 'paused';
  }

  /** Names this run knows: its hosts and sub-node labels. */
  knows(name: string): boolean {
    for (const m of this.members.values()) if (!m.removed && (m.subnode.host === name || m.subnode.label === name)) return true;
    return false;
  }

  /** Every sub-node's label, host and standing, for `pegasus status`. */
  list(): { readonly label: string; readonly host: string; readonly standing: Standing }[] {
    return [...this.members.values()].map((m) => ({ label: m.subnode.label, host: m.subnode.host, standing: m.standing }));
  }

  /** The names paused or drained (for `pegasus status`). */
  get holds(): { readonly paused: boolean; readonly held: readonly string[]; readonly drained: readonly string[] } {
    return { paused: this.paused, held: [...this.held], drained: [...this.drains] };
  }

  /** `pause`, `resume` or `drain`, for the whole run (no targets) or named hosts and sub-nodes. */
  steer(op: 'pause' | 'resume' | 'drain', targets: readonly string[]): void {
    if (targets.length === 0) {
      this.paused = op === 'pause';
      if (op === 'resume') {
        this.held.clear();
        this.drains.clear();
      }
    } else {
      for (const name of targets) {
        if (op === 'resume') {
          // Resuming a host resumes each of its sub-nodes, however they were paused or drained.
          for (const m of this.members.values()) {
            if (m.subnode.host !== name) continue;
            this.held.delete(m.subnode.label);
            this.drains.delete(m.subnode.label);
          }
          this.held.delete(name);
          this.drains.delete(name);
        } else (op === 'pause' ? this.held : this.drains).add(name);
      }
    }
    this.refresh();
  }

  /**
   * hosts.yaml changed: new sub-nodes join (their loops start through onJoin), missing ones leave
   * once their jobs end, and one whose slots changed is replaced once its old self has left.
   * Sub-nodes are the same when their label is (host and parameters).
   */
  apply(next: readonly SubNode[]): RosterChange {
    const added: string[] = [];
    const removed: string[] = [];
    const changed: string[] = [];
    const labels = new Set(next.map((s) => s.label));
    for (const m of this.members.values()) {
      if (!labels.has(m.subnode.label) && !m.removed) {
        m.removed = true;
        delete m.successor;
        removed.push(m.subnode.label);
      }
    }
    for (const subnode of next) {
      const m = this.members.get(subnode.label);
      if (!m) {
        this.admit(subnode, true);
        added.push(subnode.label);
      } else if (!sameDefinition(m.subnode, subnode)) {
        // A new definition under the same label: it takes over once the old one's jobs end.
        m.removed = true;
        m.successor = subnode;
        changed.push(subnode.label);
      } else if (m.removed) {
        // Listed again before it left: it stays.
        m.removed = false;
        delete m.successor;
        added.push(subnode.label);
      }
    }
    this.refresh();
    return { added, removed, changed };
  }

  /**
   * A `slots: auto` sub-node's GPUs were counted: it becomes a sub-node with that many slots (times
   * `slots_per_gpu`), the same one for pause, drain and hosts.yaml. Returns the new value to use.
   */
  resolve(subnode: SubNode, gpuIds: readonly number[]): SubNode {
    const gpus = subnode.gpus;
    if (!gpus) return subnode;
    const next: SubNode = { ...subnode, slots: gpuIds.length * gpus.perGpu, gpus: { ...gpus, ids: gpuIds } };
    const m = this.memberOf(subnode);
    if (m) m.subnode = next;
    this.emit({ type: 'subnode-slots', subnode: refOf(next), gpus: gpuIds });
    return next;
  }

  /** Called with each sub-node that joins the run after it started. */
  onJoin(listener: ((subnode: SubNode) => void) | undefined): void {
    this.joinListener = listener;
  }

  /**
   * A sub-node's loops ended (it runs nothing). When it is leaving, `hangUp` is called for its host
   * if no other sub-node of the host still runs (and none takes over its label); then it shows as
   * drained, or removed and leaves the roster.
   */
  async park(subnode: SubNode, hangUp?: (host: string) => Promise<void>): Promise<void> {
    const m = this.memberOf(subnode);
    if (!m) return;
    m.parked = true;
    const busy = [...this.members.values()].some((o) => o.subnode.host === subnode.host && !o.parked) || m.successor?.host === subnode.host;
    if (hangUp && !busy) await hangUp(subnode.host);
    this.refresh();
  }

  /** Resolves true when a parked (drained) sub-node may take jobs again, false when it was removed or `signal` aborts. */
  async untilBack(subnode: SubNode, signal: AbortSignal): Promise<boolean> {
    for (;;) {
      const m = this.memberOf(subnode);
      if (!m || m.removed || signal.aborted) return false;
      if (!this.isLeaving(subnode)) {
        m.parked = false;
        return true;
      }
      await this.changed(signal);
    }
  }

  /** Resolves at the next change (or when `signal` aborts). */
  changed(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = (): void => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      signal?.addEventListener('abort', done, { once: true });
      this.listeners.push(done);
    });
  }

  /** Calls `listener` at every change (the placement wakes its loops). */
  onChange(listener: () => void): void {
    const again = (): void => {
      listener();
      this.listeners.push(again);
    };
    this.listeners.push(again);
  }

  private memberOf(subnode: SubNode): Member | undefined {
    const m = this.members.get(subnode.label);
    return m?.subnode === subnode ? m : undefined;
  }

  private admit(subnode: SubNode, late: boolean): void {
    // Indices name rows in the panel and slot sets in the placement: a newcomer gets a fresh one.
    const member: Member = { subnode: { ...subnode, index: this.nextIndex++ }, removed: false, parked: false, standing: 'taking' };
    this.members.set(subnode.label, member);
    member.standing = this.standingOf(member);
    if (late) {
      this.emit({ type: 'subnode-added', subnode: refOf(member.subnode) });
      if (member.standing !== 'taking') this.emit({ type: 'subnode-state', subnode: refOf(member.subnode), state: member.standing });
      this.joinListener?.(member.subnode);
    }
  }

  private standingOf(m: Member): Standing {
    const { host, label } = m.subnode;
    if (m.removed) return m.parked ? 'removed' : 'removing';
    if (this.drains.has(host) || this.drains.has(label)) return m.parked ? 'drained' : 'draining';
    if (this.held.has(host) || this.held.has(label)) return 'paused';
    return 'taking';
  }

  /** Recomputes every standing, says what changed, lets removed members go (and their successors in), and wakes waiters. */
  private refresh(): void {
    for (const m of [...this.members.values()]) {
      const standing = this.standingOf(m);
      if (standing !== m.standing) {
        m.standing = standing;
        this.emit({ type: 'subnode-state', subnode: refOf(m.subnode), state: standing });
      }
      if (standing === 'removed') {
        this.members.delete(m.subnode.label);
        if (m.successor) this.admit(m.successor, true);
      }
    }
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener();
  }
}

/** Whether a sub-node read again from hosts.yaml is the one running (its counted GPUs aside). */
function sameDefinition(running: SubNode, read: SubNode): boolean {
  if (running.host !== read.host) return false;
  if (!running.gpus || !read.gpus) return !running.gpus && !read.gpus && running.slots === read.slots;
  const { ids: _ids, ...config } = running.gpus;
  return JSON.stringify(config) === JSON.stringify(read.gpus);
}
