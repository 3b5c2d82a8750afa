#!/usr/bin/env node
// The command line: parses argv, hands each mode its flags, and turns the outcome (or a configuration error) into an exit code.
import { createRequire } from 'node:module';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { EXIT } from './cli/exit.js';
import { ConfigError, FileError } from './errors.js';

function nonNegativeInt(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new InvalidArgumentError('expected a whole number, 0 or more');
  return value;
}

function positiveInt(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError('expected a whole number, 1 or more');
  return value;
}

/** The options of q and b (the Rust Pegasus's names and defaults). */
function runOptions(command: Command): Command {
  return command
    .option('--queue-file <path>', 'the queue file; consumed.yaml goes beside it', 'queue.yaml')
    .option('--hosts-file <path>', 'the hosts file', 'hosts.yaml')
    .option('--ssh-config <file>', 'OpenSSH client config to use instead of ~/.ssh/config')
    .option('-d, --daemon', 'keep running when the queue is empty and run new entries as they appear', false)
    .option('-p, --print-period <n>', 'show every Nth output line of each job (0: none)', nonNegativeInt, 1)
    .option('--timeout <duration>', 'stop a job (and its whole process tree) that runs longer, e.g. 90m; an entry may set its own `timeout`')
    .option('--requeue-interrupted', 'put jobs that a run which died had taken and never finished back at the head of the queue', false)
    .option('--dry-run', 'print the sub-nodes and every job the queue expands into, check templates, touch nothing', false)
    .option('--json', 'print one JSON object per event on stdout (schema in the README)', false)
    .option('--group', "print each job's output as one block when it ends, not interleaved", false)
    .option('--keep-order', 'with or without --group: blocks in the order jobs were taken from the queue', false)
    .option('--plain', 'plain prefixed lines even on a terminal (no live panel); also when piped, in CI or with TERM=dumb', false)
    .option('--max-sessions <n>', 'channels per SSH connection; more sub-nodes on a host open more connections', positiveInt, 4)
    .option('--max-startups <n>', 'SSH handshakes in flight at once (sshd drops connections past its MaxStartups, 10 by default)', positiveInt, 8)
    .option('--log-dir <path>', 'where each job\'s full output is kept (default: .pegasus/logs beside the queue file)')
    .option('--on-failure <command>', 'run this (a template: {{job}}, {{command}}, {{exit_code}}, …) when a job fails after its last attempt')
    .option('--on-success <command>', 'run this when a job succeeds')
    .option('--on-finish <command>', 'run this when a job ends, however it ends')
    .option('--on-idle <command>', 'run this when the queue is empty and nothing runs (daemon: each time)')
    .option('--on-host-lost <command>', 'run this when a host is given up ({{host}}, {{message}})')
    .option('--hook-timeout <duration>', 'stop a hook (as a tree) that runs longer (default 30s)')
    .option('--debug', 'show stack traces of internal errors', false);
}

/** Each action sets process.exitCode; modules are loaded per command so that `--help` stays fast. */
function buildProgram(): Command {
  const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  const program = new Command('pegasus')
    .description('Run a live YAML queue of shell commands on a fleet of SSH machines.')
    .version(version)
    .exitOverride()
    .showHelpAfterError('(run pegasus --help for usage)');
  runOptions(program.command('q').alias('queue').description('queue mode: each job runs once, on the next free sub-node'))
    .option('--fail-fast', 'take no new job after the first failure (running ones finish); exit 1', false)
    .option('--retries <n>', 'further attempts for a job whose connection failed, on any sub-node', nonNegativeInt, 2)
    .option('--retry-failed', 'retry jobs that exit non-zero too (up to --retries)', false)
    .option('--backfill', 'let later jobs use slots the job at the head cannot, while it waits for more (see slots in the README)', false)
    .action(async (flags) => {
      const { runMode } = await import('./cli/run-command.js');
      process.exitCode = await runMode('queue', flags);
    });
  runOptions(program.command('b').alias('broadcast').description('broadcast mode: each job runs on every sub-node, in lockstep'))
    .option('-e, --error-aborts', 'stop taking jobs when any sub-node fails one', false)
    .option('-i, --ignore-errors', 'keep going after failures (the default; accepted for compatibility)')
    .action(async (flags) => {
      const { runMode } = await import('./cli/run-command.js');
      process.exitCode = await runMode('broadcast', flags);
    });
  program
    .command('l')
    .alias('lock')
    .description('lock mode: edit the queue file safely while pegasus runs')
    .option('--queue-file <path>', 'the queue file', 'queue.yaml')
    .option('--hosts-file <path>', 'the hosts file (used to check templates when it exists)', 'hosts.yaml')
    .option('--editor <command>', 'the editor (default: $VISUAL, $EDITOR, vim, vi); arguments allowed, e.g. "code -w"')
    .option('--debug', 'show stack traces of internal errors', false)
    .action(async (flags) => {
      const { lockMode } = await import('./cli/lock-command.js');
      process.exitCode = await lockMode(flags);
    });
  program
    .command('status')
    .description('what runs on a queue and where, what is queued, the last failures and their logs (reads files only)')
    .option('--queue-file <path>', 'the queue file', 'queue.yaml')
    .option('--hosts-file <path>', 'the hosts file (for slot counts, when it exists)', 'hosts.yaml')
    .option('--log-dir <path>', "where the runs kept each job's output (default: .pegasus/logs beside the queue file)")
    .option('--json', 'one JSON object instead of text', false)
    .option('--debug', 'show stack traces of internal errors', false)
    .action(async (flags) => {
      const { showStatus } = await import('./cli/status-command.js');
      process.exitCode = await showStatus(flags);
    });
  program
    .command('push')
    .description('add entries to the queue under its lock: commands as arguments, --file, or YAML on stdin')
    .argument('[commands...]', 'commands to add, one entry each')
    .option('--file <path>', 'a YAML file of entries to add (- for stdin)')
    .option('--front', 'add at the head of the queue instead of the end', false)
    .option('--queue-file <path>', 'the queue file', 'queue.yaml')
    .option('--hosts-file <path>', 'the hosts file (used to check templates when it exists)', 'hosts.yaml')
    .option('--debug', 'show stack traces of internal errors', false)
    .action(async (commands: string[], flags) => {
      const { pushEntries } = await import('./cli/push-command.js');
      process.exitCode = await pushEntries(commands, flags);
    });
  program
    .command('kill')
    .description('stop running jobs (whole process trees) by their job number; recorded in failed.yaml as killed')
    .argument('<jobs...>', 'job numbers, as `(job N)` in the `=== run` line, the panel and `pegasus status` show')
    .option('--requeue', 'put them back at the head of the queue instead', false)
    .option('--pid <pid>', 'only in the run with this pid (when several runs on the queue have a job N)')
    .option('--queue-file <path>', 'the queue file of the run', 'queue.yaml')
    .option('--debug', 'show stack traces of internal errors', false)
    .action(async (jobs: string[], flags) => {
      const { killJobs } = await import('./cli/steer-command.js');
      process.exitCode = await killJobs(jobs, flags);
    });
  program
    .command('wait')
    .description('block until those jobs (or every job and the queue) are done; exit 0 if all succeeded, 1 if one failed')
    .argument('[jobs...]', 'job numbers of the running run; none: until its queue is empty and nothing runs')
    .option('--timeout <duration>', 'give up after this long (exit 124)')
    .option('--pid <pid>', 'the run with this pid (when several runs share the queue)')
    .option('--queue-file <path>', 'the queue file of the run', 'queue.yaml')
    .option('--debug', 'show stack traces of internal errors', false)
    .action(async (jobs: string[], flags) => {
      const { waitFor } = await import('./cli/wait-command.js');
      process.exitCode = await waitFor(jobs, flags);
    });
  for (const [op, description] of [
    ['pause', 'take no new jobs (running ones go on): the whole run, or only the hosts or sub-nodes named'],
    ['resume', 'take jobs again: the whole run (and every paused host), or only the hosts or sub-nodes named'],
    ['drain', 'stop taking jobs on these hosts; their running jobs finish (back with `pegasus resume HOST`)'],
  ] as const) {
    program
      .command(op)
      .description(description)
      .argument(op === 'drain' ? '<hosts...>' : '[targets...]', 'hosts or sub-node labels, as the panel shows them')
      .option('--queue-file <path>', 'the queue file of the run', 'queue.yaml')
      .option('--debug', 'show stack traces of internal errors', false)
      .action(async (targets: string[], flags) => {
        const { holdHosts } = await import('./cli/steer-command.js');
        process.exitCode = await holdHosts(op, targets, flags);
      });
  }
  return program;
}

async function main(argv: readonly string[]): Promise<void> {
  const debug = argv.includes('--debug');
  try {
    await buildProgram().parseAsync(argv as string[]);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else if (error instanceof ConfigError) {
      process.stderr.write(`pegasus: ${error.describe()}\n`);
      if (debug) process.stderr.write(`${error.stack ?? ''}\n`);
      process.exitCode = EXIT.usage;
    } else if (error instanceof FileError) {
      // A full, read-only or forbidden file system (issue 13): the machine needs fixing, not the input.
      process.stderr.write(`pegasus: ${error.describe()}\n`);
      if (debug) process.stderr.write(`${error.stack ?? ''}\n`);
      process.exitCode = EXIT.failed;
    } else {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`pegasus: internal error: ${message}\n`);
      process.stderr.write(debug && error instanceof Error ? `${error.stack ?? ''}\n` : 'Run again with --debug for details, and please report it.\n');
      process.exitCode = EXIT.failed;
    }
  }
}

void main(process.argv);
