// Where the time of a whole `pegasus b` goes (W2, issue 17): event times of three runs on a 4-sshd fleet, from process start (PROF=dir adds --cpu-prof).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CLI } from '../test/helpers/cli.js';
import { startFleet } from '../test/helpers/fleet.js';

const fleet = await startFleet({ hosts: 4 });
try {
  const dir = fleet.dir;
  await writeFile(path.join(dir, 'hosts.yaml'), `- hostname: [${fleet.hosts.map((h) => h.alias).join(', ')}]\n`);
  for (let r = 0; r < 3; r++) {
    await writeFile(path.join(dir, 'queue.yaml'), '- "true"\n'.repeat(50));
    const start = Date.now();
    const extra = process.env.PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROF}`] : [];
    const child = spawn(process.execPath, [...extra, CLI, 'b', '--json', '--ssh-config', fleet.sshConfigPath], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    await once(child, 'close');
    const end = Date.now();
    const events = out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; time: string });
    const seen = new Map<string, number>();
    for (const e of events) if (!seen.has(e.event)) seen.set(e.event, Date.parse(e.time) - start);
    const last = events.filter((e) => e.event === 'job-finished').at(-1);
    console.log(`run ${r}: whole ${end - start} ms; firsts:`, Object.fromEntries(seen), 'last finished', Date.parse(last?.time ?? '') - start);
  }
} finally {
  await fleet.stop();
}
