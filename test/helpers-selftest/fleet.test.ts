// Self-test of the test fleet: real sshd processes answer the system ssh client, host keys are pinned as OpenSSH does, nothing is left behind.
import assert from 'node:assert/strict';
import { access, readFile, writeFile } from 'node:fs/promises';
import { after, test } from 'node:test';
import { knownHostsLine, sshRun, startFleet, wrongKnownHostsLine } from '../helpers/fleet.js';
import { assertAllGone, isAlive, killTracked } from '../helpers/pids.js';

after(async () => {
  await killTracked();
  await assertAllGone();
});

test('a 2-host fleet runs commands over ssh, records host keys on first use, and stops without leftovers', async (t) => {
  const fleet = await startFleet({ hosts: 2 });
  t.after(() => fleet.stop());
  assert.deepEqual(
    fleet.hosts.map((h) => [h.alias, h.address, h.port]),
    [
      ['node1', '127.0.0.2', fleet.port],
      ['node2', '127.0.0.3', fleet.port],
    ],
  );
  for (const host of fleet.hosts) {
    const result = await sshRun(fleet, host.alias, 'echo hi-$((1+1))');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'hi-2\n');
  }
  // accept-new: the system ssh recorded each host's own key, in the form knownHostsLine gives
  const known = (await readFile(fleet.knownHostsPath, 'utf8')).split('\n').filter(Boolean);
  assert.equal(known.length, 2);
  for (const host of fleet.hosts) assert.ok(known.includes(await knownHostsLine(host)), `${host.alias}: ${known.join('\n')}`);

  // A session still running when the fleet stops dies with it: `exec` makes the printed PID the remote sleep's.
  let onPid = (_pid: number): void => {};
  const remotePid = new Promise<number>((resolve) => (onPid = resolve));
  const sleeper = sshRun(fleet, 'node1', 'echo $$; exec sleep 300', {
    onStdout: (soFar) => {
      const match = /^(\d+)\n/.exec(soFar);
      if (match) onPid(Number(match[1]));
    },
  });
  const pid = await Promise.race([remotePid, sleeper.then((r) => Promise.reject(new Error(`ssh ended early: ${r.stderr}`)))]);
  assert.ok(isAlive(pid), 'the remote sleep runs');

  const sshdPids = fleet.hosts.map((h) => h.pid);
  await fleet.stop();
  for (const sshd of sshdPids) assert.equal(isAlive(sshd), false, `sshd ${sshd} is gone`);
  assert.equal(isAlive(pid), false, 'the remote sleep is gone');
  assert.equal((await sleeper).code, 255, 'the ssh client saw its connection end');
  await assert.rejects(access(fleet.dir), 'the fleet folder is removed');
  await assertAllGone();
});

test('a host key pinned in known_hosts is accepted under strict checking; a different key is refused', async (t) => {
  const fleet = await startFleet({ hosts: 1 });
  t.after(() => fleet.stop());
  const host = fleet.hosts[0]!;

  await writeFile(fleet.knownHostsPath, `${await knownHostsLine(host)}\n`);
  const pinned = await sshRun(fleet, host.alias, 'true', { options: ['StrictHostKeyChecking=yes'] });
  assert.equal(pinned.code, 0, pinned.stderr);

  const wrong = `${await wrongKnownHostsLine(host)}\n`;
  await writeFile(fleet.knownHostsPath, wrong);
  const refused = await sshRun(fleet, host.alias, 'echo must not run');
  assert.equal(refused.code, 255);
  assert.match(refused.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
  assert.equal(refused.stdout, '');
  assert.equal(await readFile(fleet.knownHostsPath, 'utf8'), wrong, 'known_hosts untouched');
});

test('stopHost stops one host; the others keep serving', async (t) => {
  const fleet = await startFleet({ hosts: 2 });
  t.after(() => fleet.stop());
  const [node1, node2] = fleet.hosts;
  await node1!.stopHost();
  assert.equal(isAlive(node1!.pid), false);
  const down = await sshRun(fleet, 'node1', 'true');
  assert.equal(down.code, 255);
  assert.match(down.stderr, /Connection refused/);
  const up = await sshRun(fleet, 'node2', 'echo up');
  assert.equal(up.code, 0, up.stderr);
  assert.equal(up.stdout, 'up\n');
  assert.ok(isAlive(node2!.pid));
});
