// Issue 7 W1/W1b/W2: pegasus against GNU parallel, pdsh, pssh and clush (with and without ControlMaster) and a bare ssh2 floor,
// on a loopback fleet of 4 sshd logging in as a non-root user. Ratios in one run; absolute figures depend on the machine.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { CLI } from '../test/helpers/cli.js';
import { HostGuard } from '../src/exec/guard.js';
import { remoteCommand } from '../src/exec/wrapper.js';
import { startFleet, type Fleet } from '../test/helpers/fleet.js';

const run = promisify(execFile);
const JOBS = 400;
const ROUNDS = 50;
/**
 * This machine's speed drifts from minute to minute (a shared VM), so W1 and W2 run this many
 * times, pegasus and the peers taking turns, and each row is the median of its runs. The slow
 * plain-ssh peers run once.
 */
const REPEATS = 3;

interface Row {
  readonly name: string;
  /** jobs/s, or ms per round for W2; undefined when the peer is missing or failed. */
  readonly value?: number;
  readonly note?: string;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function have(command: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${command}`]).then(
    () => true,
    () => false,
  );
}

/** Runs pegasus to the end; returns the whole-process time and the time from the first job start to the last job end (from --json). */
async function pegasus(dir: string, mode: 'q' | 'b', config: string): Promise<{ wholeMs: number; afterConnectMs: number }> {
  const start = performance.now();
  const child = spawn(process.execPath, [CLI, mode, '--json', '--ssh-config', config], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const [code] = (await once(child, 'close')) as [number];
  const wholeMs = performance.now() - start;
  if (code !== 0) throw new Error(`pegasus ${mode} exited ${code}`);
  const events = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; time: string });
  const first = events.find((e) => e.event === 'job-started');
  const last = events.filter((e) => e.event === 'job-finished').at(-1);
  return { wholeMs, afterConnectMs: Date.parse(last?.time ?? '') - Date.parse(first?.time ?? '') };
}

/**
 * The floor: one ssh2 connection per host, Nagle off, 2 execs in flight per host; timed after
 * connecting. `how` says what each exec runs: the bare command, the per-job wrapper, or the
 * command as pegasus runs it under a host guard (registration with the guard, ended notice).
 */
async function floor(fleet: Fleet, command: string, how: 'bare' | 'wrapper' | 'guard' = 'bare'): Promise<number> {
  const key = await readFile(fleet.clientKeyPath);
  const clients = await Promise.all(
    fleet.hosts.map(
      (host) =>
        new Promise<ssh2.Client>((resolve, reject) => {
          const client = new ssh2.Client();
          client.on('ready', () => resolve(client)).on('error', reject);
          client.connect({ host: host.address, port: host.port, username: fleet.user, privateKey: key, hostVerifier: () => true });
          (client as unknown as { _sock?: { setNoDelay?: (on: boolean) => void } })._sock?.setNoDelay?.(true);
        }),
    ),
  );
  for (const client of clients) (client as unknown as { _sock?: { setNoDelay?: (on: boolean) => void } })._sock?.setNoDelay?.(true);
  const guards = new Map<ssh2.Client, HostGuard>();
  if (how === 'guard') {
    for (const client of clients) {
      const { guard } = await HostGuard.start(client, 'bench', () => undefined);
      if (!guard) throw new Error('the host guard did not start');
      guards.set(client, guard);
    }
  }
  let left = JOBS;
  const exec = (client: ssh2.Client): Promise<void> => {
    const guarded = guards.get(client)?.command(command);
    const line = how === 'wrapper' ? remoteCommand(command) : (guarded?.line ?? command);
    return new Promise((resolve, reject) =>
      client.exec(line, (error, channel) => {
        if (error) return reject(error);
        if (guarded) channel.eof();
        channel
          .on('close', () => {
            if (guarded) guards.get(client)?.finished(guarded.token, false);
            resolve();
          })
          .resume();
        channel.stderr.resume();
      }),
    );
  };
  const ms = await timed(() =>
    Promise.all(
      clients.flatMap((client) =>
        [0, 1].map(async () => {
          while (left > 0) {
            left -= 1;
            await exec(client);
          }
        }),
      ),
    ),
  );
  for (const guard of guards.values()) guard.close();
  for (const client of clients) client.end();
  return ms;
}

async function setUp(fleet: Fleet, dir: string): Promise<string> {
  // A second ssh config with a persistent ControlMaster; warmed before any timing.
  const base = await readFile(fleet.sshConfigPath, 'utf8');
  const cm = path.join(dir, 'ssh_config_cm');
  await writeFile(cm, `Host *\n  ControlMaster auto\n  ControlPath ${dir}/cm-%C\n  ControlPersist 120\n\n${base}`);
  for (const host of fleet.hosts) await run('ssh', ['-F', cm, host.alias, 'true']);
  for (const host of fleet.hosts) await run('ssh', ['-F', fleet.sshConfigPath, host.alias, 'true']);
  return cm;
}

async function w1(fleet: Fleet, dir: string, cm: string, command: string, plain: boolean): Promise<Row[]> {
  const aliases = fleet.hosts.map((h) => h.alias);
  const rows: Row[] = [];
  await writeFile(path.join(dir, 'hosts.yaml'), `- hostname: [${aliases.join(', ')}]\n  slot: [0, 1]\n`);
  await writeFile(path.join(dir, 'queue.yaml'), `- ${JSON.stringify(command)}\n`.repeat(JOBS));
  const p = await pegasus(dir, 'q', fleet.sshConfigPath);
  rows.push({ name: 'pegasus q (whole process: start-up, 4 handshakes, 400 pops)', value: (JOBS * 1000) / p.wholeMs });
  rows.push({ name: 'pegasus q, after connecting (first job start to last job end)', value: (JOBS * 1000) / p.afterConnectMs });
  rows.push({ name: 'bare ssh2 floor, after connecting (no queue file)', value: (JOBS * 1000) / (await floor(fleet, command)) });
  // What stopping jobs as trees costs on its own: under the host guard (how pegasus runs SSH jobs),
  // and in the per-job wrapper (process group, stdin watcher, deadline timer) used where no guard runs.
  rows.push({ name: 'bare ssh2 floor running the job as pegasus does (under the host guard)', value: (JOBS * 1000) / (await floor(fleet, command, 'guard')) });
  rows.push({ name: 'bare ssh2 floor running the job in the per-job wrapper', value: (JOBS * 1000) / (await floor(fleet, command, 'wrapper')) });
  if (await have('parallel')) {
    const logins = aliases.map((a) => `2/${a}`).join(',');
    const configs: (readonly [string, string])[] = [['GNU parallel, warm ControlMaster', cm]];
    if (plain) configs.push(['GNU parallel, plain ssh', fleet.sshConfigPath]);
    for (const [name, config] of configs) {
      const input = Array.from({ length: JOBS }, (_, i) => String(i)).join('\n');
      const ms = await timed(
        () =>
          new Promise<void>((resolve, reject) => {
            const child = spawn('parallel', ['--will-cite', '-S', logins, '--ssh', `ssh -F ${config}`, '-N0', command], { stdio: ['pipe', 'ignore', 'inherit'] });
            child.stdin.end(`${input}\n`);
            child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`parallel exited ${code}`))));
          }),
      );
      rows.push({ name, value: (JOBS * 1000) / ms });
    }
  } else rows.push({ name: 'GNU parallel', note: 'not installed' });
  return rows;
}

async function w2(fleet: Fleet, dir: string, cm: string, plain: boolean): Promise<Row[]> {
  const aliases = fleet.hosts.map((h) => h.alias);
  const rows: Row[] = [];
  await writeFile(path.join(dir, 'hosts.yaml'), `- hostname: [${aliases.join(', ')}]\n`);
  await writeFile(path.join(dir, 'queue.yaml'), '- "true"\n'.repeat(ROUNDS));
  const p = await pegasus(dir, 'b', fleet.sshConfigPath);
  rows.push({ name: 'pegasus b (whole process)', value: p.wholeMs / ROUNDS });
  rows.push({ name: 'pegasus b, after connecting', value: p.afterConnectMs / ROUNDS });
  const rounds = async (file: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<number> =>
    (await timed(async () => {
      for (let i = 0; i < ROUNDS; i++) await run(file, args, { env: { ...process.env, ...env } });
    })) / ROUNDS;
  const configs: (readonly [string, string])[] = [['ControlMaster', cm]];
  if (plain) configs.push(['plain ssh', fleet.sshConfigPath]);
  for (const [label, config] of configs) {
    const peers: [string, string, () => Promise<number>][] = [
      ['pdsh', 'pdsh', () => rounds('pdsh', ['-R', 'ssh', '-w', aliases.join(','), 'true'], { PDSH_SSH_ARGS_APPEND: `-F ${config}` })],
      ['pssh', 'parallel-ssh', () => rounds('parallel-ssh', ['-x', `-F ${config}`, '-H', aliases.join(' '), 'true'])],
      ['clush', 'clush', () => rounds('clush', ['-w', aliases.join(','), '-o', `-F ${config}`, 'true'])],
    ];
    for (const [name, binary, measure] of peers) {
      if (!(await have(binary))) {
        rows.push({ name: `${name}, ${label}`, note: 'not installed' });
        continue;
      }
      try {
        rows.push({ name: `${name}, ${label}`, value: await measure() });
      } catch (error) {
        rows.push({ name: `${name}, ${label}`, note: `failed: ${(error as Error).message.split('\n')[0]}` });
      }
    }
  }
  return rows;
}

/** Runs a workload REPEATS times (the last one with the slow peers too) and keeps each row's median. */
async function repeated(quick: () => Promise<Row[]>, full: () => Promise<Row[]>): Promise<Row[]> {
  const runs: Row[][] = [];
  for (let i = 1; i < REPEATS; i++) runs.push(await quick());
  runs.push(await full());
  const last = runs[runs.length - 1] ?? [];
  return last.map((row) => {
    const values = runs.flatMap((r) => r.filter((x) => x.name === row.name && x.value !== undefined).map((x) => x.value as number)).sort((a, b) => a - b);
    if (values.length === 0) return row;
    const note = values.length > 1 ? `median of ${values.length}: ${values.map((v) => v.toFixed(1)).join(', ')}` : undefined;
    return { name: row.name, value: values[Math.floor(values.length / 2)], ...(note ? { note } : {}) };
  });
}

function table(title: string, unit: string, rows: readonly Row[], reference: number | undefined, higherIsBetter: boolean): string {
  const lines = [`### ${title}`, '', `| runner | ${unit} | pegasus is | runs |`, '|---|---:|---:|---|'];
  for (const row of rows) {
    if (row.value === undefined) {
      lines.push(`| ${row.name} | ${row.note ?? '-'} | | |`);
      continue;
    }
    const ratio = reference === undefined ? '' : higherIsBetter ? reference / row.value : row.value / reference;
    lines.push(`| ${row.name} | ${row.value.toFixed(1)} | ${typeof ratio === 'number' ? `${ratio.toFixed(2)}x` : ''} | ${row.note ?? '1'} |`);
  }
  return lines.join('\n');
}

/** Runs W1, W1b and W2; returns markdown tables. */
export async function runPeerBench(): Promise<string> {
  const fleet = await startFleet({ hosts: 4 });
  const stop = (): void => void fleet.stop().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  try {
    const dir = fleet.dir;
    const cm = await setUp(fleet, dir);
    const out: string[] = [];
    const w1Rows = await repeated(() => w1(fleet, dir, cm, 'true', false), () => w1(fleet, dir, cm, 'true', true));
    out.push(table(`W1: ${JOBS} jobs of \`true\`, 4 hosts x 2 sub-nodes (jobs/s; pegasus whole process vs each)`, 'jobs/s', w1Rows, w1Rows[0]?.value, true));
    const floorRatio = (w1Rows[2]?.value ?? NaN) / (w1Rows[1]?.value ?? NaN);
    const guardRatio = (w1Rows[3]?.value ?? NaN) / (w1Rows[1]?.value ?? NaN);
    out.push(
      `\npegasus after connecting runs at 1/${floorRatio.toFixed(2)} of the bare ssh2 floor's rate, and at 1/${guardRatio.toFixed(2)} of the floor running jobs the same way (under the host guard).`,
    );
    const w1bRows = await w1(fleet, dir, cm, 'sleep 0.05', true);
    out.push(table(`W1b: ${JOBS} jobs of \`sleep 0.05\`, 4 hosts x 2 sub-nodes`, 'jobs/s', w1bRows, w1bRows[0]?.value, true));
    const w2Rows = await repeated(() => w2(fleet, dir, cm, false), () => w2(fleet, dir, cm, true));
    out.push(table(`W2: broadcast \`true\` to 4 hosts, ${ROUNDS} rounds (ms per round; pegasus whole process vs each)`, 'ms/round', w2Rows, w2Rows[0]?.value, false));
    return out.join('\n\n');
  } finally {
    process.off('SIGINT', stop);
    for (const host of fleet.hosts) await run('ssh', ['-F', path.join(fleet.dir, 'ssh_config_cm'), '-O', 'exit', host.alias]).catch(() => undefined);
    await fleet.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await runPeerBench());
