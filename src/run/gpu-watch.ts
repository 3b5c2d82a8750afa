// The GPUs of `slots: auto` sub-nodes as they really are (issue 15): counted when a host connects, checked with nvidia-smi before a job is placed on them, and reported as they change.
import type { SubNode } from '../config/hosts.js';
import { APPS_MARK, busyGpus, GPU_QUERY, parseGpuQuery, type GpuSnapshot } from '../exec/gpus.js';
import { describeOutcome, succeeded, type Executor } from '../exec/types.js';
import type { RunEvent } from './events.js';
import { refOf } from './sessions.js';

/**
 * How long a host's nvidia-smi answer is reused before it is asked again (issue 15: "results reused
 * for a second or two"). PEGASUS_GPU_FRESH_MS overrides it: 0 asks before every placement (the
 * tests use it, so that a GPU taken a moment ago is never missed).
 */
export const GPU_FRESH_MS = freshFromEnv(process.env.PEGASUS_GPU_FRESH_MS, 1500);
/** A job waiting for a GPU someone else uses looks again this often. */
export const GPU_RECHECK_MS = Math.max(GPU_FRESH_MS, 200);

function freshFromEnv(text: string | undefined, fallback: number): number {
  const value = text === undefined || text.trim() === '' ? NaN : Number(text);
  return Number.isFinite(value) && value >= 0 ? value : fallback;
}
/** An nvidia-smi that hangs (a wedged driver does) is given up after this long. */
const QUERY_TIMEOUT_MS = 30_000;

/** One GPU of a sub-node as the panel, status and --json show it. */
export interface GpuView {
  readonly id: number;
  readonly state: 'free' | 'ours' | 'busy';
  /** Jobs of this run on it (numbers, as `pegasus kill` takes them). */
  readonly jobs?: readonly number[];
  readonly memoryUsedMiB?: number;
  /** Why it is busy, e.g. "2 processes that are not pegasus's, 20480 MiB used". */
  readonly reason?: string;
}

interface HostGpus {
  exec: Executor;
  at: number;
  snapshot?: GpuSnapshot;
  error?: string;
  inFlight?: Promise<void>;
  /** Jobs of this run on each GPU id (a GPU shared by `slots_per_gpu` has several). */
  readonly ours: Map<number, number[]>;
}

export class GpuWatch {
  private readonly emit: (event: RunEvent) => void;
  private readonly hosts = new Map<string, HostGpus>();
  /** Sub-nodes seen, by host, for the events. */
  private readonly subnodes = new Map<string, Map<string, SubNode>>();
  private readonly published = new Map<string, string>();

  constructor(emit: (event: RunEvent) => void) {
    this.emit = emit;
  }

  /**
   * The GPU ids a `slots: auto` sub-node uses, counted now over its host's connection (and its
   * `CUDA_VISIBLE_DEVICES`), or the tool's message when nvidia-smi is missing or fails.
   */
  async count(subnode: SubNode, exec: Executor): Promise<number[] | string> {
    const host = this.hostOf(subnode.host, exec);
    await this.refresh(host, 0);
    if (host.error !== undefined || !host.snapshot) return host.error ?? 'nvidia-smi printed nothing';
    const found = host.snapshot.gpus.map((g) => g.index);
    const visible = subnode.gpus?.visible;
    return visible ? visible.filter((id) => found.includes(id)) : found;
  }

  /** Notes the sub-node as resolved (its slots counted), for the GPU events. */
  track(subnode: SubNode): void {
    let byLabel = this.subnodes.get(subnode.host);
    if (!byLabel) this.subnodes.set(subnode.host, (byLabel = new Map()));
    byLabel.set(subnode.label, subnode);
    this.publish(subnode.host);
  }

  /**
   * The slots of a sub-node that sit on busy GPUs now, by its host's policy (answers reused for
   * GPU_FRESH_MS, at most one nvidia-smi in flight per host). While nvidia-smi fails, every GPU
   * counts as busy: a job waits rather than starting on a GPU nobody could check.
   */
  async busySlots(subnode: SubNode): Promise<Set<number>> {
    const gpus = subnode.gpus;
    const host = this.hosts.get(subnode.host);
    if (!gpus?.ids || !host) return new Set();
    await this.refresh(host, GPU_FRESH_MS);
    const busy = this.busyIds(subnode, host);
    const out = new Set<number>();
    gpus.ids.forEach((id, i) => {
      if (busy === 'all' || busy.has(id)) for (let k = 0; k < gpus.perGpu; k++) out.add(i * gpus.perGpu + k);
    });
    return out;
  }

  /** A job of this run now holds these GPUs. */
  claim(subnode: SubNode, gpuIds: readonly number[], job: number): void {
    const host = this.hosts.get(subnode.host);
    if (!host) return;
    for (const id of gpuIds) host.ours.set(id, [...(host.ours.get(id) ?? []), job]);
    this.publish(subnode.host);
  }

  /** That job ended. */
  release(subnode: SubNode, gpuIds: readonly number[], job: number): void {
    const host = this.hosts.get(subnode.host);
    if (!host) return;
    for (const id of gpuIds) {
      const left = (host.ours.get(id) ?? []).filter((n) => n !== job);
      if (left.length > 0) host.ours.set(id, left);
      else host.ours.delete(id);
    }
    this.publish(subnode.host);
  }

  /** Every resolved sub-node's GPUs now, by label (for `pegasus status`). */
  describe(): Record<string, readonly GpuView[]> {
    const out: Record<string, readonly GpuView[]> = {};
    for (const [hostName, byLabel] of this.subnodes) {
      const host = this.hosts.get(hostName);
      if (!host) continue;
      for (const subnode of byLabel.values()) out[subnode.label] = this.views(subnode, host);
    }
    return out;
  }

  private hostOf(name: string, exec: Executor): HostGpus {
    let host = this.hosts.get(name);
    if (!host) this.hosts.set(name, (host = { exec, at: 0, ours: new Map() }));
    host.exec = exec;
    return host;
  }

  /** Asks nvidia-smi again unless the last answer is younger than `freshMs`; one query per host at a time. */
  private async refresh(host: HostGpus, freshMs: number): Promise<void> {
    if (host.inFlight) return host.inFlight;
    if (freshMs > 0 && performance.now() - host.at < freshMs && (host.snapshot || host.error)) return;
    host.inFlight = (async () => {
      const answer = await query(host.exec);
      host.at = performance.now();
      if (typeof answer === 'string') {
        if (host.error !== answer) {
          const name = [...this.hosts].find(([, h]) => h === host)?.[0] ?? '?';
          this.emit({ type: 'gpu-error', host: name, message: answer });
        }
        host.error = answer;
      } else {
        host.error = undefined;
        host.snapshot = answer;
      }
    })().finally(() => {
      host.inFlight = undefined;
    });
    await host.inFlight;
    for (const [name, h] of this.hosts) if (h === host) this.publish(name);
  }

  private busyIds(subnode: SubNode, host: HostGpus): ReadonlyMap<number, { readonly reason: string; readonly memoryUsedMiB?: number }> | 'all' {
    if (host.error !== undefined || !host.snapshot || !subnode.gpus) return 'all';
    return busyGpus(host.snapshot, subnode.gpus.policy, new Set(host.ours.keys()));
  }

  private views(subnode: SubNode, host: HostGpus): GpuView[] {
    const busy = this.busyIds(subnode, host);
    return (subnode.gpus?.ids ?? []).map((id): GpuView => {
      const jobs = host.ours.get(id);
      const memoryUsedMiB = host.snapshot?.gpus.find((g) => g.index === id)?.memoryUsedMiB;
      const memory = memoryUsedMiB === undefined ? {} : { memoryUsedMiB };
      if (jobs && jobs.length > 0) return { id, state: 'ours', jobs, ...memory };
      if (busy === 'all') return { id, state: 'busy', reason: host.error ?? 'not checked yet', ...memory };
      const why = busy.get(id);
      return why ? { id, state: 'busy', reason: why.reason, ...memory } : { id, state: 'free', ...memory };
    });
  }

  /** Emits `gpu-state` for each of the host's sub-nodes whose GPUs look different now. */
  private publish(hostName: string): void {
    const host = this.hosts.get(hostName);
    if (!host) return;
    for (const subnode of this.subnodes.get(hostName)?.values() ?? []) {
      const gpus = this.views(subnode, host);
      const key = JSON.stringify(gpus);
      if (this.published.get(subnode.label) === key) continue;
      this.published.set(subnode.label, key);
      this.emit({ type: 'gpu-state', subnode: refOf(subnode), gpus });
    }
  }
}

/** One nvidia-smi query over the host's executor: its answer, or what went wrong in words. */
async function query(exec: Executor): Promise<GpuSnapshot | string> {
  const out: string[] = [];
  const err: string[] = [];
  const result = await exec.run({ command: GPU_QUERY, onLine: (stream, line) => (stream === 'stdout' ? out : err).push(line), timeoutMs: QUERY_TIMEOUT_MS });
  if (!succeeded(result)) {
    const said = [...err, ...out].filter((l) => l.trim() !== APPS_MARK).join(' ').replace(/\s+/g, ' ').trim();
    if (result.exitCode === 127) return `nvidia-smi is not on the host's PATH${said ? ` (${said})` : ''}`;
    return `nvidia-smi failed (${describeOutcome(result)})${said ? `: ${said}` : ''}`;
  }
  try {
    return parseGpuQuery(`${out.join('\n')}\n`);
  } catch (error) {
    return (error as Error).message;
  }
}
