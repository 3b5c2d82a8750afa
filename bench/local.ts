// Issue 17 L8/L1: local jobs. 400 x `true` on 8 `localhost` sub-nodes, and 200 x `true` on 1, whole process: pegasus against
// GNU parallel -j8 / -j1 and a floor (a bare Node loop spawning `sh -c true`, detached, pipes read); and pegasus's local job runner driven
// alone, which shows how much of pegasus's time is its own per-job work. Medians of 5, taking turns (single runs spread ±20% on this VM).
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CLI } from '../test/helpers/cli.js';

const run = promisify(execFile);
const REPEATS = 5;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function pegasus(slots: number, jobs: number): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-bench-local-'));
  try {
    await writeFile(path.join(dir, 'hosts.yaml'), slots === 1 ? '- localhost\n' : `- hostname: localhost\n  i: [${Array.from({ length: slots }, (_, i) => i).join(', ')}]\n`);
    await writeFile(path.join(dir, 'queue.yaml'), '- true\n'.repeat(jobs));
    const child = spawn(process.execPath, [CLI, 'q', '--plain', '-p', '0'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const [code] = (await once(child, 'close')) as [number];
    if (code !== 0) throw new Error(`pegasus exited ${code}: ${err}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function parallel(slots: number, jobs: number): Promise<void> {
  const child = spawn('parallel', ['--will-cite', `-j${slots}`, '-N0', 'true'], { stdio: ['pipe', 'ignore', 'inherit'] });
  child.stdin.end(`${Array.from({ length: jobs }, (_, i) => i).join('\n')}\n`);
  const [code] = (await once(child, 'close')) as [number];
  if (code !== 0) throw new Error(`parallel exited ${code}`);
}

/**
 * The floor: a whole Node process (as pegasus and parallel are) running `slots` loops, each spawning
 * `/bin/sh -c true` detached with its pipes read, one after another.
 */
const FLOOR = `
const { spawn } = require('node:child_process');
const { once } = require('node:events');
let left = Number(process.argv[2]);
const loop = async () => {
  while (left > 0) {
    left -= 1;
    const child = spawn('/bin/sh', ['-c', 'true'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.resume();
    child.stderr.resume();
    await once(child, 'close');
  }
};
Promise.all(Array.from({ length: Number(process.argv[1]) }, loop));
`;

async function floor(slots: number, jobs: number): Promise<void> {
  await run(process.execPath, ['-e', FLOOR, String(slots), String(jobs)]);
}

/**
 * The runner alone: a whole Node process running `slots` loops that start `true` through pegasus's
 * own local job runner (the Perl process that forks its local jobs) and wait for each to end, with no
 * queue file, journal, events or output: what is left of pegasus's time is pegasus's own per-job work.
 */
const RUNNER_ALONE = `
const [url, slots, jobs] = process.argv.slice(1);
const { LocalRunner } = await import(url);
const runner = new LocalRunner();
let left = Number(jobs);
const loop = async () => {
  while (left > 0) {
    left -= 1;
    await new Promise((resolve) => runner.run('true', { started() {}, output() {}, exited: resolve, failed: resolve, unavailable: resolve }));
  }
};
await Promise.all(Array.from({ length: Number(slots) }, loop));
`;
const RUNNER_URL = new URL('../src/exec/local-runner.js', import.meta.url).href;

async function runnerAlone(slots: number, jobs: number): Promise<void> {
  await run(process.execPath, ['--input-type=module', '-e', RUNNER_ALONE, RUNNER_URL, String(slots), String(jobs)]);
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function have(command: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${command}`]).then(
    () => true,
    () => false,
  );
}

export async function localTable(): Promise<string> {
  const withParallel = (await have('parallel')) && /GNU/.test((await run('parallel', ['--version']).catch(() => ({ stdout: '' }))).stdout);
  const lines: string[] = [];
  for (const [slots, jobs] of [
    [8, 400],
    [1, 200],
  ] as const) {
    const times = { pegasus: [] as number[], parallel: [] as number[], floor: [] as number[], runner: [] as number[] };
    for (let r = 0; r < REPEATS; r++) {
      times.pegasus.push(await timed(() => pegasus(slots, jobs)));
      if (withParallel) times.parallel.push(await timed(() => parallel(slots, jobs)));
      times.floor.push(await timed(() => floor(slots, jobs)));
      times.runner.push(await timed(() => runnerAlone(slots, jobs)));
    }
    const p = median(times.pegasus);
    const row = (name: string, ms: readonly number[]): string =>
      ms.length === 0 ? `| ${name} | not installed | | |` : `| ${name} | ${(median(ms) / 1000).toFixed(2)} | ${(median(ms) / p).toFixed(2)}x | ${ms.map((m) => (m / 1000).toFixed(2)).join(', ')} |`;
    lines.push(
      `### ${jobs} x \`true\`, ${slots} \`localhost\` sub-node${slots === 1 ? '' : 's'} (whole process)`,
      '',
      '| runner | s (median) | its time / pegasus\'s | runs |',
      '|---|---:|---:|---|',
      row('pegasus q', times.pegasus),
      row(`GNU parallel -j${slots}`, times.parallel),
      row(`floor: a Node process spawning \`sh -c true\` (${slots} at once)`, times.floor),
      row(`pegasus's local job runner alone: a Node process starting \`true\` through it (${slots} at once)`, times.runner),
      '',
      `Targets (issue 17): GNU parallel / pegasus >= 2 (${times.parallel.length > 0 ? `${(median(times.parallel) / p).toFixed(2)}, ${median(times.parallel) / p >= 2 ? 'met' : 'missed'}` : 'no parallel'}); ` +
        `pegasus / floor <= 1.5 (${(p / median(times.floor)).toFixed(2)}, ${p / median(times.floor) <= 1.5 ? 'met' : 'missed'}).`,
      '',
    );
  }
  return lines.join('\n').trim();
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await localTable());
