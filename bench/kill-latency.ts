// Kill latency (issue 14): from the start of the `pegasus kill N` client process to the job's process group being gone, on localhost and over SSH.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI, startPegasus } from '../test/helpers/cli.js';
import { startFleet } from '../test/helpers/fleet.js';
import { liveInGroup } from '../test/helpers/procs.js';

const ROUNDS = 20;


async function measure(host: string, sshConfig: string): Promise<number[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-bench-kill-'));
  try {
    await writeFile(path.join(dir, 'hosts.yaml'), `- ${host}\n`);
    await writeFile(path.join(dir, 'queue.yaml'), Array.from({ length: ROUNDS }, (_, i) => `- sleep 300 & sleep 300 & echo pgid-${i}=$$; wait\n`).join(''));
    const run = startPegasus(['q', '--plain', '--ssh-config', sshConfig], { cwd: dir });
    const latencies: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const pgid = Number((await run.stdout(new RegExp(`pgid-${i}=(\\d+)`)))[1]);
      const start = performance.now();
      const client = spawn(process.execPath, [CLI, 'kill', String(i + 1)], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
      const closed = new Promise<number | null>((resolve) => client.on('close', resolve));
      // Measuring, not synchronizing: the group is read from /proc (zombies do not count) every millisecond until it is gone.
      while ((await liveInGroup(pgid)).length > 0) {
        if (client.exitCode !== null && client.exitCode !== 0) throw new Error(`pegasus kill ${i + 1} exited ${client.exitCode}`);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      latencies.push(performance.now() - start);
      await closed;
    }
    await run.exited;
    return latencies;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const fleet = await startFleet({ hosts: 1 });
try {
  for (const host of ['localhost', 'node1']) {
    const latencies = await measure(host, fleet.sshConfigPath);
    console.log(`pegasus kill -> job's process group gone on ${host === 'localhost' ? 'localhost' : 'an SSH host (node1)'}, ${ROUNDS} rounds: median ${median(latencies).toFixed(1)} ms, min ${Math.min(...latencies).toFixed(1)}, max ${Math.max(...latencies).toFixed(1)} ms`);
  }
} finally {
  await fleet.stop();
}
