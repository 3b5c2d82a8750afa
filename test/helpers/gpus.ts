// A stand-in for nvidia-smi (CI has no GPU): prints what the real tool prints for the query flags
// pegasus uses, from a state file the test rewrites ("GPU 1 now has a foreign process using 20 GiB").
//
// The output follows nvidia-smi(1)'s documentation of `--query-gpu=...` and
// `--query-compute-apps=...` with `--format=csv[,noheader][,nounits]` (see the 550 driver's manual
// page, https://manpages.ubuntu.com/manpages/plucky/man1/nvidia-smi.1.html, and
// `nvidia-smi --help-query-gpu`): one line per GPU or process, the fields in the order asked,
// separated by ", "; a header line of the field names (memory ones with " [MiB]") unless `noheader`;
// sizes followed by " MiB" unless `nounits`; fields the device cannot report as `[N/A]`. With no
// driver it prints "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.
// Make sure that the latest NVIDIA driver is installed and running." and exits 9 (the manual's
// RETURN VALUE: 9 = "NVIDIA driver is not loaded").
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const NO_DRIVER_MESSAGE = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.";

export interface FakeGpu {
  readonly index: number;
  /** Defaults to a UUID made from the index. */
  readonly uuid?: string;
  readonly name?: string;
  /** MiB, or a literal such as `[N/A]`. */
  readonly memoryUsed?: number | string;
  readonly memoryTotal?: number | string;
}

export interface FakeProcess {
  /** The GPU's index (its UUID is looked up) or its UUID. */
  readonly gpu: number | string;
  readonly pid: number;
  readonly usedMemory?: number | string;
  readonly name?: string;
}

export function uuidOf(index: number): string {
  return `GPU-5a1e${String(index).padStart(4, '0')}-7c2b-4f0e-9d3a-0000000000${String(index).padStart(2, '0')}`;
}

/** `count` idle 80 GiB A100s, indices 0…count-1. */
export function idleGpus(count: number): FakeGpu[] {
  return Array.from({ length: count }, (_, index) => ({ index, name: 'NVIDIA A100-SXM4-80GB', memoryUsed: 4, memoryTotal: 81920 }));
}

/**
 * Writes the state the fake reads: its GPUs and the compute processes on them, or a failure
 * (`{ exitCode, message }`) it reports instead. Written to a temp file and renamed, so a query
 * never sees half of it.
 */
export async function writeFakeGpus(file: string, gpus: readonly FakeGpu[] | { exitCode: number; message: string }, processes: readonly FakeProcess[] = []): Promise<void> {
  const lines: string[] = [];
  if ('exitCode' in gpus) {
    lines.push(['fail', String(gpus.exitCode), gpus.message].join('\t'));
  } else {
    // As on a real GPU, memory.used includes what its processes use.
    const used = (g: FakeGpu): string => {
      const own = g.memoryUsed ?? 4;
      if (typeof own === 'string') return own;
      const uuid = g.uuid ?? uuidOf(g.index);
      return String(own + processes.filter((p) => p.gpu === g.index || p.gpu === uuid).reduce((n, p) => n + (typeof p.usedMemory === 'number' ? p.usedMemory : 0), 0));
    };
    for (const g of gpus) lines.push(['gpu', String(g.index), g.uuid ?? uuidOf(g.index), g.name ?? 'NVIDIA A100-SXM4-80GB', used(g), String(g.memoryTotal ?? 81920)].join('\t'));
    for (const p of processes) {
      const uuid = typeof p.gpu === 'number' ? (gpus.find((g) => g.index === p.gpu)?.uuid ?? uuidOf(p.gpu)) : p.gpu;
      lines.push(['proc', uuid, String(p.pid), String(p.usedMemory ?? '[N/A]'), p.name ?? 'python'].join('\t'));
    }
  }
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${lines.join('\n')}\n`, { mode: 0o644 });
  await rename(temp, file);
}

const SCRIPT = String.raw`#!/bin/sh
# pegasus's test stand-in for nvidia-smi (see test/helpers/gpus.ts): state from $PEGASUS_FAKE_GPUS.
state=$PEGASUS_FAKE_GPUS
kind=; fields=; format=csv
for arg in "$@"; do
  value=$(printf '%s\n' "$arg" | sed 's/^[^=]*=//')
  case $arg in
    --query-gpu=*) kind=gpu; fields=$value ;;
    --query-compute-apps=*) kind=proc; fields=$value ;;
    --format=*) format=$value ;;
    *) echo "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help."; exit 2 ;;
  esac
done
if [ -z "$state" ] || [ ! -r "$state" ]; then
  echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."
  exit 9
fi
fail=$(awk -F '\t' '$1 == "fail" { print; exit }' "$state")
if [ -n "$fail" ]; then
  printf '%s\n' "$fail" | cut -f3-
  exit "$(printf '%s\n' "$fail" | cut -f2)"
fi
[ -n "$kind" ] || { echo "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help."; exit 2; }
exec awk -F '\t' -v kind="$kind" -v fields="$fields" -v format="$format" '
BEGIN {
  n = split(fields, want, ",")
  units = index(format, "nounits") == 0
  header = index(format, "noheader") == 0
  if (kind == "gpu") { col["index"] = 2; col["uuid"] = 3; col["name"] = 4; col["memory.used"] = 5; col["memory.total"] = 6; mem["memory.used"] = 1; mem["memory.total"] = 1 }
  else { col["gpu_uuid"] = 2; col["pid"] = 3; col["used_memory"] = 4; col["used_gpu_memory"] = 4; col["process_name"] = 5; col["name"] = 5; mem["used_memory"] = 1; mem["used_gpu_memory"] = 1 }
  for (i = 1; i <= n; i++) if (!(want[i] in col)) { printf "Field \"%s\" is not a valid field to query.\n\n", want[i]; bad = 1; exit 2 }
  if (header) { line = ""; for (i = 1; i <= n; i++) line = line (i > 1 ? ", " : "") want[i] ((units && want[i] in mem) ? " [MiB]" : ""); print line }
}
$1 == kind {
  line = ""
  for (i = 1; i <= n; i++) {
    v = $(col[want[i]])
    if (units && want[i] in mem && v ~ /^[0-9]+$/) v = v " MiB"
    line = line (i > 1 ? ", " : "") v
  }
  print line
}
END { if (bad) exit 2 }
' "$state"
`;

/** Writes the fake as `dir/nvidia-smi` (mode 755) and returns `dir`, to put first on a PATH. */
export async function installFakeNvidiaSmi(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const file = path.join(dir, 'nvidia-smi');
  await writeFile(file, SCRIPT, { mode: 0o755 });
  await chmod(file, 0o755);
  await chmod(dir, 0o755);
  return dir;
}
