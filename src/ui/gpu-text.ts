// How a sub-node's GPUs read in the panel and in `pegasus status` (issue 15): free, ours (job numbers), busy (someone else's, with memory used).
import type { GpuView } from '../run/gpu-watch.js';

/** "20.0 GiB" / "512 MiB". */
export function memoryText(mib: number): string {
  return mib >= 1024 ? `${(mib / 1024).toFixed(1)} GiB` : `${mib} MiB`;
}

function stateText(gpu: GpuView): string {
  if (gpu.state === 'ours') return `#${(gpu.jobs ?? []).join(',#')}`;
  if (gpu.state === 'busy') return `busy${gpu.memoryUsedMiB === undefined ? '' : ` ${memoryText(gpu.memoryUsedMiB)}`}`;
  return 'free';
}

/** One panel cell: "GPU 0 #3 · 1 free · 2 busy 20.0 GiB". */
export function gpuCells(gpus: readonly GpuView[]): string {
  return gpus.map((gpu, i) => `${i === 0 ? 'GPU ' : ''}${gpu.id} ${stateText(gpu)}`).join(' · ');
}

/** One line per GPU for `pegasus status`: "GPU 1  busy: a process not started by pegasus (pid 4242), 20480 MiB used". */
export function gpuLines(gpus: readonly GpuView[]): string[] {
  return gpus.map((gpu) => {
    if (gpu.state === 'ours') return `GPU ${gpu.id}  job ${(gpu.jobs ?? []).join(', ')}`;
    const memory = gpu.memoryUsedMiB === undefined ? '' : `${memoryText(gpu.memoryUsedMiB)} used`;
    if (gpu.state === 'busy') return `GPU ${gpu.id}  busy: ${gpu.reason ?? 'in use'}${memory && !(gpu.reason ?? '').includes('MiB used') ? ` (${memory})` : ''}`;
    return `GPU ${gpu.id}  free${memory ? ` (${memory})` : ''}`;
  });
}
