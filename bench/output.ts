// Output throughput (issue 6 bench, issue 7 "O"): 4 sub-nodes printing lines, through plain mode (piped) and the live view (in tmux);
// lines shown per second, pegasus's CPU time and peak RSS (GNU time). Not a test: figures to report.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CLI } from '../test/helpers/cli.js';

const run = promisify(execFile);
const SUBNODES = 4;

interface Workload {
  readonly name: string;
  /** The job each sub-node runs (a Handlebars template; {{slot}} is the sub-node). */
  readonly command: string;
  /** Lines each job prints. */
  readonly lines: number;
}

// 5,000 lines/s for 10 s: 50 lines every 10 ms, from a small node printer (sh cannot pace itself this finely).
const paced = (perSecond: number, seconds: number): Workload => ({
  name: `${SUBNODES} x ${perSecond.toLocaleString('en')} lines/s for ${seconds} s`,
  command: `${process.execPath} -e 'let n=0;const per=${perSecond / 100},total=${perSecond * seconds};const t=setInterval(()=>{let s="";for(let i=0;i<per&&n<total;i++)s+="slot {{slot}} line "+(++n)+" of some typical log output, loss=0.1234\\n";process.stdout.write(s);if(n>=total)clearInterval(t)},10)'`,
  lines: perSecond * seconds,
});
const flood = (lines: number): Workload => ({
  name: `${SUBNODES} x ${lines.toLocaleString('en')} lines, as fast as they come`,
  command: `seq ${lines} | sed 's/^/slot {{slot}} line /; s/$/ of some typical log output, loss=0.1234/'`,
  lines,
});

interface Figures {
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly peakRssMb: number;
  readonly shown: number;
}

async function workspace(workload: Workload): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-bench-output-'));
  await writeFile(path.join(dir, 'hosts.yaml'), `- hostname: localhost\n  slot: [${Array.from({ length: SUBNODES }, (_, i) => i).join(', ')}]\n`);
  await writeFile(path.join(dir, 'queue.yaml'), Array.from({ length: SUBNODES }, () => `- ${JSON.stringify(workload.command)}\n`).join(''));
  return dir;
}

/** GNU time's "elapsed user system maxrss(KB)". */
function parseTime(text: string): Omit<Figures, 'shown'> {
  const [elapsed, user, sys, rss] = text.trim().split(/\s+/).map(Number);
  return { seconds: elapsed ?? NaN, cpuSeconds: (user ?? 0) + (sys ?? 0), peakRssMb: (rss ?? 0) / 1024 };
}

async function plain(workload: Workload): Promise<Figures> {
  const dir = await workspace(workload);
  try {
    const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', 'time.txt', process.execPath, CLI, 'q', '--plain'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
    let shown = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      for (const byte of chunk) if (byte === 10) shown++;
    });
    await once(child, 'close');
    return { ...parseTime(await readFile(path.join(dir, 'time.txt'), 'utf8')), shown };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function live(workload: Workload): Promise<Figures> {
  const dir = await workspace(workload);
  const socket = `pegasus-bench-${process.pid}`;
  const tmux = (...args: string[]) => run('tmux', ['-L', socket, '-f', '/dev/null', ...args]);
  try {
    const command = `cd ${dir} && env -u CI TERM=xterm-256color /usr/bin/time -f '%e %U %S %M' -o time.txt ${process.execPath} ${CLI} q; touch done; exec cat`;
    await tmux('new-session', '-d', '-s', 'bench', '-x', '160', '-y', '48', command);
    // Everything written to the terminal, to count the lines shown.
    await tmux('pipe-pane', '-t', 'bench', `cat > ${path.join(dir, 'pane.out')}`);
    const { watch } = await import('node:fs');
    await new Promise<void>((resolve) => {
      const watcher = watch(dir, () => {
        void readFile(path.join(dir, 'done')).then(
          () => {
            watcher.close();
            resolve();
          },
          () => {},
        );
      });
    });
    const pane = await readFile(path.join(dir, 'pane.out'), 'utf8');
    const shown = pane.match(/slot \d line \d+ of/g)?.length ?? 0;
    return { ...parseTime(await readFile(path.join(dir, 'time.txt'), 'utf8')), shown };
  } finally {
    await tmux('kill-server').catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

const rows: string[] = [];
for (const workload of [paced(5000, 10), flood(250_000)]) {
  for (const [how, measure] of [
    ['plain, piped', plain],
    ['live view, tmux 160x48', live],
  ] as const) {
    const f = await measure(workload);
    const total = workload.lines * SUBNODES;
    rows.push(
      `| ${workload.name} | ${how} | ${(f.shown / f.seconds).toFixed(0)} | ${((f.shown / total) * 100).toFixed(0)}% | ${f.seconds.toFixed(1)} | ${((f.cpuSeconds / f.seconds) * 100).toFixed(0)}% | ${f.peakRssMb.toFixed(0)} |`,
    );
    console.error(rows.at(-1));
  }
}
console.log(
  ['| workload | output | lines shown/s | of all lines | wall s | pegasus CPU | peak RSS MB |', '|---|---|---:|---:|---:|---:|---:|', ...rows].join('\n'),
);
