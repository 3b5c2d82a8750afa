// The non-root user that tests run pegasus as when root's powers would hide the fault (permission bits): created when missing.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The same user test/helpers/fleet.ts logs in as. */
export const TEST_USER = 'pegasus-test';

/** The test user's uid, gid and home, creating the user (shell /bin/sh) when it does not exist. */
export async function testUser(): Promise<{ readonly uid: number; readonly gid: number; readonly home: string }> {
  try {
    await run('id', ['-u', TEST_USER]);
  } catch {
    await run('useradd', ['--create-home', '--shell', '/bin/sh', TEST_USER]);
  }
  const [uid, gid, home] = await Promise.all([
    run('id', ['-u', TEST_USER]).then((r) => Number(r.stdout.trim())),
    run('id', ['-g', TEST_USER]).then((r) => Number(r.stdout.trim())),
    run('getent', ['passwd', TEST_USER]).then((r) => r.stdout.trim().split(':')[5] ?? '/'),
  ]);
  return { uid, gid, home };
}
