// `pegasus q` against real sshd processes on 127.0.0.N: draining over SSH, quoting, host keys, unreachable hosts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { runPegasus } from '../helpers/cli.js';
import { knownHostsLine, makeKey, startFleet, type Fleet } from '../helpers/fleet.js';

let fleet: Fleet;
const dirs: string[] = [];
before(async () => {
  fleet = await startFleet({ hosts: 2 });
});
after(async () => {
  const pids = fleet.hosts.map((h) => h.pid);
  await fleet.stop();
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), 'sshd is gone');
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function workspace(files: Record<string, string>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-ssh-'));
  dirs.push(dir);
  await chmod(dir, 0o777); // the jobs run as the fleet's (non-root) user and write here
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  const read = (name: string) => readFile(path.join(dir, name), 'utf8').catch(() => '<missing>');
  const pegasus = (...args: string[]) => runPegasus(['q', '--ssh-config', fleet.sshConfigPath, ...args], { cwd: dir });
  return { dir, read, pegasus };
}

test('2 hosts x 2 slots drain 20 jobs over SSH, each job run exactly once', async () => {
  const ws = await workspace({ 'hosts.yaml': '- hostname: [node1, node2]\n  slot: [0, 1]\n' });
  const jobs = Array.from({ length: 20 }, (_, i) => i + 1);
  await writeFile(
    path.join(ws.dir, 'queue.yaml'),
    `- command: echo {{n}} >> ${ws.dir}/{{hostname}}.log\n  n: [${jobs.join(', ')}]\n`,
  );
  const result = await ws.pegasus();
  assert.equal(result.code, 0, result.stderr);
  const ran = [...(await ws.read('node1.log')).split('\n'), ...(await ws.read('node2.log')).split('\n')]
    .filter((l) => /^\d+$/.test(l))
    .map(Number)
    .sort((a, b) => a - b);
  assert.deepEqual(ran, jobs);
  assert.notEqual(await ws.read('node1.log'), '<missing>', 'node1 took jobs');
  assert.notEqual(await ws.read('node2.log'), '<missing>', 'node2 took jobs');
  assert.equal((await ws.read('consumed.yaml')).match(/^- command:/gm)?.length, 20);
  assert.equal(await ws.read('queue.yaml'), '');
  assert.match(result.stdout, /^\[node[12] \(slot=[01]\)\] === done \(exit 0, [\d.]+s\) ===$/m);
  // accept-new: both host keys were recorded, as OpenSSH would
  const known = await readFile(fleet.knownHostsPath, 'utf8');
  for (const host of fleet.hosts) assert.ok(known.includes(await knownHostsLine(host)), `${host.alias} in known_hosts`);
});

// Quotes of every kind, $, backslashes, a tab and a multi-line block: what sh -c gets must be what was written.
const TRICKY = `- |
  printf '%s\\n' "double \\"quoted\\" \\$HOME" 'single '"'"'quoted'"'"'' 'back\\slash \\n' "tab	x" '$(not run)'
  echo "$((6 * 7))" # a comment
  cat <<'EOF'
  heredoc 'kept' "as is" $HOME
  EOF
`;
const TRICKY_OUT = ['double "quoted" $HOME', "single 'quoted'", 'back\\slash \\n', 'tab\tx', '$(not run)', '42', "heredoc 'kept' \"as is\" $HOME"];

test('the command reaches sh -c exactly as written, over SSH and locally alike', async () => {
  for (const host of ['node1', 'localhost']) {
    const ws = await workspace({ 'hosts.yaml': `- ${host}\n`, 'queue.yaml': TRICKY });
    const result = await ws.pegasus();
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout
      .split('\n')
      .filter((l) => l.startsWith(`[${host}] `) && !l.includes('==='))
      .map((l) => l.slice(host.length + 3));
    assert.deepEqual(lines, TRICKY_OUT, `output on ${host}`);
  }
});

test('a command holding a NUL character fails over SSH with the message it gets locally, not cut short at the NUL; the next job runs', async () => {
  const ws = await workspace({ 'hosts.yaml': '- node1\n' });
  await writeFile(path.join(ws.dir, 'queue.yaml'), `- "echo a > ${ws.dir}/cut.txt\\0; echo b"\n- echo after\n`);
  const result = await ws.pegasus('--plain');
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stdout, /^\[node1\] pegasus: the command contains a NUL character \(\\0\), which no shell command can hold; it was not run$/m);
  assert.match(result.stdout, /^\[node1\] === done \(exit 127, [\d.]+s\) ===$/m);
  assert.match(result.stdout, /^\[node1\] after$/m);
  assert.equal(await ws.read('cut.txt'), '<missing>', 'no part of it ran');
});

test('stderr and stdout lines both arrive, prefixed, and the exit code of a failed remote job is reported', async () => {
  const ws = await workspace({ 'hosts.yaml': '- node2\n', 'queue.yaml': '- echo out; echo err >&2; exit 3\n' });
  const result = await ws.pegasus();
  assert.equal(result.code, 1);
  assert.match(result.stdout, /^\[node2\] out$/m);
  assert.match(result.stdout, /^\[node2\] err$/m);
  assert.match(result.stdout, /^\[node2\] === done \(exit 3, [\d.]+s\) ===$/m);
  assert.match(result.stderr, /FAILED \[node2\] done \(exit 3, [\d.]+s\): echo out; echo err >&2; exit 3/);
});

test('a CHANGED host key is refused: the error names the host, the fingerprint and the known_hosts line', async () => {
  const ws = await workspace({ 'hosts.yaml': '- node1\n', 'queue.yaml': '- echo must not run\n' });
  // A known_hosts file of our own in which node1 has another key, on line 2.
  const other = await makeKey(path.join(ws.dir, 'other_key'));
  const knownHosts = path.join(ws.dir, 'known_hosts');
  await writeFile(knownHosts, `# pinned keys\n${await knownHostsLine(fleet.hosts[0]!, `${other}.pub`)}\n`);
  const config = path.join(ws.dir, 'ssh_config');
  await writeFile(config, (await readFile(fleet.sshConfigPath, 'utf8')).replaceAll(fleet.knownHostsPath, knownHosts));
  const { stdout: fp } = await promisify(execFile)('ssh-keygen', ['-lf', fleet.hosts[0]!.hostKeyPubPath]);
  const fingerprint = fp.split(' ')[1]!;
  const result = await runPegasus(['q', '--ssh-config', config], { cwd: ws.dir });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /node1/);
  assert.ok(result.stderr.includes(fingerprint), `fingerprint ${fingerprint} in: ${result.stderr}`);
  assert.ok(result.stderr.includes(`${knownHosts}:2`), 'names the known_hosts line');
  assert.doesNotMatch(result.stdout, /must not run/);
  assert.equal(await ws.read('queue.yaml'), '- echo must not run\n', 'queue untouched');
  assert.equal(await ws.read('consumed.yaml'), '<missing>');
  assert.equal(await readFile(knownHosts, 'utf8'), `# pinned keys\n${await knownHostsLine(fleet.hosts[0]!, `${other}.pub`)}\n`, 'known_hosts not rewritten');
});

test('an unreachable host is reported by name and reason while the other host drains the queue', async () => {
  const ws = await workspace({ 'hosts.yaml': '- deadhost\n- node2\n', 'queue.yaml': '- echo a\n- echo b\n- echo c\n' });
  const config = path.join(ws.dir, 'ssh_config');
  // Port 1 on 127.0.0.2: nothing listens there, so the connection is refused.
  await writeFile(config, `${await readFile(fleet.sshConfigPath, 'utf8')}\nHost deadhost\n  HostName 127.0.0.2\n  Port 1\n  User root\n`);
  await appendFile(config, '');
  const result = await runPegasus(['q', '--ssh-config', config], { cwd: ws.dir });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /host deadhost: cannot connect to deadhost: 127\.0\.0\.2:1 refused the connection/);
  for (const letter of ['a', 'b', 'c']) assert.match(result.stdout, new RegExp(`^\\[node2\\] ${letter}$`, 'm'));
  assert.equal(await ws.read('queue.yaml'), '');
});

test('when no host can be reached the run exits 1 and the queue is untouched', async () => {
  const ws = await workspace({ 'hosts.yaml': '- deadhost\n', 'queue.yaml': '- echo a\n' });
  const config = path.join(ws.dir, 'ssh_config');
  await writeFile(config, 'Host deadhost\n  HostName 127.0.0.2\n  Port 1\n  User root\n');
  const result = await runPegasus(['q', '--ssh-config', config], { cwd: ws.dir });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /no host was left to run jobs/);
  assert.equal(await ws.read('queue.yaml'), '- echo a\n');
});

function hostBlock(alias: string, lines: readonly string[]): string {
  return [`Host ${alias}`, ...lines.map((l) => `  ${l}`), ''].join('\n');
}

test('ProxyJump: a host reached through another host runs jobs; a broken jump host fails that host only', async () => {
  const target = fleet.hosts[1]!;
  const clientKey = path.join(fleet.dir, 'client_key');
  const common = [`HostName ${target.address}`, `Port ${target.port}`, `User ${fleet.user}`, `IdentityFile ${clientKey}`, 'IdentitiesOnly yes', `UserKnownHostsFile ${fleet.knownHostsPath}`];
  const ws = await workspace({ 'hosts.yaml': '- viajump\n', 'queue.yaml': '- echo through the jump\n' });
  const config = path.join(ws.dir, 'ssh_config');
  await writeFile(
    config,
    `${await readFile(fleet.sshConfigPath, 'utf8')}\n${hostBlock('viajump', [...common, 'ProxyJump node1'])}\n${hostBlock('viabroken', [...common, 'ProxyJump deadjump'])}\n${hostBlock('deadjump', ['HostName 127.0.0.2', 'Port 1', 'User root'])}`,
  );
  const good = await runPegasus(['q', '--ssh-config', config], { cwd: ws.dir });
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /^\[viajump\] through the jump$/m);

  await writeFile(path.join(ws.dir, 'hosts.yaml'), '- viabroken\n');
  await writeFile(path.join(ws.dir, 'queue.yaml'), '- echo never\n');
  const broken = await runPegasus(['q', '--ssh-config', config], { cwd: ws.dir });
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /host viabroken: cannot connect to deadjump: 127\.0\.0\.2:1 refused the connection/);
});

test('keys held by ssh-agent (SSH_AUTH_SOCK) log in when no key file is usable', async () => {
  const ws = await workspace({ 'hosts.yaml': '- agentnode\n', 'queue.yaml': '- echo agent login\n' });
  const socket = path.join(ws.dir, 'agent.sock');
  // ssh-agent forks; its parent exits once the socket is listening, printing the child's PID.
  const { stdout } = await promisify(execFile)('ssh-agent', ['-s', '-a', socket]);
  const agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(stdout)?.[1]);
  try {
    await promisify(execFile)('ssh-add', [path.join(fleet.dir, 'client_key')], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
    const config = path.join(ws.dir, 'ssh_config');
    const host = fleet.hosts[0]!;
    await writeFile(
      config,
      hostBlock('agentnode', [`HostName ${host.address}`, `Port ${host.port}`, `User ${fleet.user}`, `IdentityFile ${ws.dir}/no_such_key`, `UserKnownHostsFile ${fleet.knownHostsPath}`]),
    );
    const withAgent = await runPegasus(['q', '--ssh-config', config], { cwd: ws.dir, env: { SSH_AUTH_SOCK: socket } });
    assert.equal(withAgent.code, 0, withAgent.stderr);
    assert.match(withAgent.stdout, /^\[agentnode\] agent login$/m);

    // Without the agent the same host refuses us, and the error says it was authentication.
    await writeFile(path.join(ws.dir, 'queue.yaml'), '- echo never\n');
    const withoutAgent = await runPegasus(['q', '--ssh-config', config], { cwd: ws.dir, env: { SSH_AUTH_SOCK: '' } });
    assert.equal(withoutAgent.code, 1);
    assert.match(withoutAgent.stderr, new RegExp(`cannot log in to agentnode as ${fleet.user}: every key was refused`));
  } finally {
    process.kill(agentPid, 'SIGTERM');
  }
});
