// The ssh config files the ssh-config tests resolve against: Host aliases, tokens, ProxyJump and an Include.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';


/** Writes the fixture into a new temp folder; returns the folder and the main config file. */
export async function writeSshConfigFixture(prefix: string): Promise<{ readonly dir: string; readonly config: string }> {
  const dir = await mkdtemp(join(os.tmpdir(), prefix));
  const config = join(dir, 'config');
  await mkdir(join(dir, 'inc'));
  await writeFile(
    join(dir, 'inc', '10-db.conf'),
    [
      'Host db',
      '  HostName 127.0.0.5',
      '  Port 2202',
      '  HostKeyAlias dbkey',
      '  ConnectTimeout 7',
      '  HashKnownHosts yes',
      '  IdentityAgent none',
      '  IdentityFile %d/.ssh/db_%k',
      '  StrictHostKeyChecking yes',
      '  ProxyCommand nc %h %p',
    ].join('\n'),
  );
  // Sorted after 10-db.conf, so its Port loses to the one above: first obtained value wins.
  await writeFile(join(dir, 'inc', '20-db.conf'), 'Host db\n  Port 9999\n  User dbuser\n');
  await writeFile(join(dir, 'inc', 'ignored.txt'), 'Host db\n  User wrong\n');
  await writeFile(
    config,
    [
      '# top comment',
      `Include ${join(dir, 'inc', '*.conf')}`,
      '',
      'Host web1 alias-*',
      '  HostName %h.example.test',
      '  User alice',
      '  Port 2201',
      '  IdentityFile ~/.ssh/id_%h_%r',
      `  IdentityFile "${dir}/keys dir/%n-%p"`,
      '  ProxyJump jump@bastion:2222,second',
      '  ServerAliveCountMax 5',
      'Host !nomatch-* *.glob.test',
      '  User globber',
      '  StrictHostKeyChecking no',
      'Match originalhost matchme',
      '  User matched',
      'Host *',
      '  User fallback',
      '  ServerAliveInterval 15',
      `  UserKnownHostsFile ${dir}/kh1 ~/.ssh/kh-%h`,
      '  StrictHostKeyChecking accept-new',
      '  IdentitiesOnly yes',
      '  IdentityFile ~/.ssh/common_%u',
    ].join('\n'),
  );
  return { dir, config };
}
