// What nvidia-smi says about a host's GPUs (issue 15): the query pegasus sends, its parser, and when a GPU counts as free.
//
// The format is nvidia-smi's CSV query output as its manual page documents it (nvidia-smi(1),
// "--query-gpu", "--query-compute-apps" and "--format=csv,noheader,nounits"; e.g. the 550 driver's
// page, https://manpages.ubuntu.com/manpages/plucky/man1/nvidia-smi.1.html, and the field lists of
// `nvidia-smi --help-query-gpu` / `--help-query-compute-apps`): one line per GPU or process, values
// in the order asked for, separated by ", ", a field the device cannot report printed as `[N/A]`
// (older drivers: `[Not Supported]`), and sizes in MiB (with " MiB" after them when `nounits` is
// left out). Exit status 9 means the driver is not loaded, with "NVIDIA-SMI has failed because it
// couldn't communicate with the NVIDIA driver..." on stdout.

/** Marks where the GPU list ends and the process list begins in GPU_QUERY's output. */
export const APPS_MARK = '--pegasus-apps--';

/**
 * The `sh -c` text that asks a host for its GPUs and the compute processes on them, in one round
 * trip. It fails (non-zero) with the tool's own message when nvidia-smi is missing or fails.
 */
export const GPU_QUERY = [
  'nvidia-smi --query-gpu=index,uuid,name,memory.used,memory.total --format=csv,noheader,nounits',
  `echo ${APPS_MARK}`,
  'nvidia-smi --query-compute-apps=gpu_uuid,pid,used_memory --format=csv,noheader,nounits',
].join(' && ');

export interface GpuInfo {
  readonly index: number;
  readonly uuid: string;
  readonly name?: string;
  readonly memoryUsedMiB?: number;
  readonly memoryTotalMiB?: number;
}

export interface GpuProcess {
  readonly gpuUuid: string;
  readonly pid?: number;
  readonly usedMemoryMiB?: number;
}

export interface GpuSnapshot {
  readonly gpus: readonly GpuInfo[];
  readonly processes: readonly GpuProcess[];
}

/** nvidia-smi printed something pegasus cannot read as its query output. */
export class GpuQueryError extends Error {
  override readonly name = 'GpuQueryError';
}

/** A value nvidia-smi could not give: `[N/A]`, `[Not Supported]`, `N/A`, `[Unknown Error]`, or nothing. */
function missing(value: string): boolean {
  return value === '' || /^\[.*\]$/.test(value) || /^n\/?a$/i.test(value);
}

/**
 * A size in MiB from nvidia-smi (`20480`, `20480 MiB`) or a user (`1GiB`, `512MiB`, `2G`, `1.5 GB`);
 * undefined when it is not a size. Decimal units count as their binary neighbours (nvidia-smi's
 * "MiB" is 2^20 bytes; a user writing 1GB means 1GiB here).
 */
export function parseSizeMiB(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$/i.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]);
  const unit = (match[2] ?? 'M').toUpperCase()[0];
  const scale: Record<string, number> = { B: 1 / 2 ** 20, K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 };
  return Math.round(value * (scale[unit ?? 'M'] ?? 1));
}

function sizeOf(value: string): number | undefined {
  return missing(value) ? undefined : parseSizeMiB(value);
}

/** The fields of one CSV line: split at commas, each trimmed (names hold no commas in this output). */
function fieldsOf(line: string): string[] {
  return line.split(',').map((f) => f.trim());
}

/** Reads GPU_QUERY's output; tolerant of spaces, CRLF, blank lines, `[N/A]` fields and " MiB" units. */
export function parseGpuQuery(stdout: string): GpuSnapshot {
  const lines = stdout.split(/\r?\n/).map((l) => l.trim());
  const mark = lines.indexOf(APPS_MARK);
  const gpuLines = (mark < 0 ? lines : lines.slice(0, mark)).filter((l) => l !== '');
  const appLines = (mark < 0 ? [] : lines.slice(mark + 1)).filter((l) => l !== '' && !/^no running (compute )?processes found$/i.test(l));
  const gpus: GpuInfo[] = gpuLines.map((line) => {
    const [index = '', uuid = '', name = '', used = '', total = ''] = fieldsOf(line);
    if (!/^\d+$/.test(index)) throw new GpuQueryError(`nvidia-smi printed \`${line}\` where a GPU line (index, uuid, name, memory) was expected.`);
    return {
      index: Number(index),
      uuid,
      ...(missing(name) ? {} : { name }),
      ...optional('memoryUsedMiB', sizeOf(used)),
      ...optional('memoryTotalMiB', sizeOf(total)),
    };
  });
  if (gpus.length === 0) throw new GpuQueryError('nvidia-smi listed no GPUs.');
  const processes: GpuProcess[] = appLines.map((line) => {
    const [gpuUuid = '', pid = '', used = ''] = fieldsOf(line);
    if (!gpuUuid) throw new GpuQueryError(`nvidia-smi printed \`${line}\` where a process line (gpu_uuid, pid, used_memory) was expected.`);
    return { gpuUuid, ...optional('pid', /^\d+$/.test(pid) ? Number(pid) : undefined), ...optional('usedMemoryMiB', sizeOf(used)) };
  });
  return { gpus, processes };
}

function optional<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };
}

/** When a GPU counts as free (`gpu_free` in hosts.yaml). */
export interface GpuPolicy {
  /** A GPU using more memory than this (MiB) is busy; unset: memory alone never makes it busy. */
  readonly maxMemoryUsedMiB?: number;
  /** Whether a compute process that is not pegasus's may share the GPU (default false: it may not). */
  readonly foreignProcesses: boolean;
}

export const DEFAULT_GPU_POLICY: GpuPolicy = { foreignProcesses: false };

export interface BusyReason {
  readonly reason: string;
  readonly memoryUsedMiB?: number;
}

/**
 * The GPUs that are busy by the policy, with why. GPUs in `ours` hold jobs of this run: their
 * processes and memory are pegasus's own, so they are never busy here (whether another job fits
 * there is the slots' business).
 */
export function busyGpus(snapshot: GpuSnapshot, policy: GpuPolicy, ours: ReadonlySet<number>): Map<number, BusyReason> {
  const busy = new Map<number, BusyReason>();
  for (const gpu of snapshot.gpus) {
    if (ours.has(gpu.index)) continue;
    const reasons: string[] = [];
    const procs = snapshot.processes.filter((p) => p.gpuUuid === gpu.uuid);
    if (!policy.foreignProcesses && procs.length > 0) {
      reasons.push(`${procs.length === 1 ? 'a process' : `${procs.length} processes`} not started by pegasus${procs.length === 1 && procs[0]?.pid !== undefined ? ` (pid ${procs[0].pid})` : ''}`);
    }
    if (policy.maxMemoryUsedMiB !== undefined && gpu.memoryUsedMiB !== undefined && gpu.memoryUsedMiB > policy.maxMemoryUsedMiB) {
      reasons.push(`${gpu.memoryUsedMiB} MiB used (over ${policy.maxMemoryUsedMiB} MiB)`);
    }
    if (reasons.length > 0) busy.set(gpu.index, { reason: reasons.join(', '), ...optional('memoryUsedMiB', gpu.memoryUsedMiB) });
  }
  return busy;
}
