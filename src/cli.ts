#!/usr/bin/env node
// The command line: parses argv, wires files → queue → scheduler → executors → output, maps the outcome to an exit code.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { isLocalHost, loadHosts, type SubNode } from './config/hosts.js';
import { checkCollisions, checkEntry, expandEntry, parseQueue } from './config/jobs.js';
import { ConfigError } from './errors.js';
import { LocalExecutor } from './exec/local.js';
import { runQueue } from './run/queue-mode.js';
import { type ExecutorOrError } from './run/sessions.js';
import { QueueStore, queueFilesOf } from './queue/store.js';
import { plainPrinter, summaryText } from './ui/plain.js';

/** Exit codes (README): 0 all succeeded, 1 a job failed or was lost, 2 usage or configuration error, 130 Ctrl-C, 143 SIGTERM. */
const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130, terminated: 143 } as const;

interface CommonOptions {
  readonly queueFile: string;
  readonly hostsFile: string;
  readonly sshConfig?: string;
  readonly printPeriod: number;
  readonly dryRun: boolean;
  readonly debug: boolean;
}

function nonNegativeInt(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new InvalidArgumentError('expected a whole number, 0 or more');
  return value;
}

function buildProgram(): Command {
  const program = new Command('pegasus')
    .description('Run a live YAML queue of shell commands on a fleet of SSH machines.')
    .version((createRequire(import.meta.url)('../../package.json') as { version: string }).version)
    .exitOverride()
    .showHelpAfterError('(run pegasus --help for usage)');
  program
    .command('q')
    .alias('queue')
    .description('queue mode: each job runs once, on the next free sub-node')
    .option('--queue-file <path>', 'the queue file', 'queue.yaml')
    .option('--hosts-file <path>', 'the hosts file', 'hosts.yaml')
    .option('--ssh-config <file>', 'OpenSSH client config to use instead of ~/.ssh/config')
    .option('-p, --print-period <n>', 'show every Nth output line of each job (0: none)', nonNegativeInt, 1)
    .option('--dry-run', 'print the sub-nodes and every job the queue expands into, check templates, touch nothing', false)
    .option('--debug', 'show stack traces of internal errors', false)
    .action(async (options: CommonOptions) => {
      process.exitCode = options.dryRun ? await dryRun(options) : await queueMode(options);
    });
  return program;
}

/** `pegasus q --dry-run`: expand and check everything, run nothing, write nothing. */
async function dryRun(options: CommonOptions): Promise<number> {
  const subnodes = await loadHosts(options.hostsFile);
  const queueFile = queueFilesOf(options.queueFile).queue;
  const entries = parseQueue(await readQueueText(queueFile, options.queueFile), options.queueFile);
  const out: string[] = [`sub-nodes (${subnodes.length}):`];
  for (const subnode of subnodes) out.push(`  [${subnode.label}]`);
  const jobs = entries.flatMap((entry) => {
    checkEntry(entry, subnodes);
    return expandEntry(entry);
  });
  out.push(`jobs (${jobs.length}):`);
  jobs.forEach((job, i) => {
    const params = job.params.length ? `   (${job.params.map(([k, v]) => `${k}=${v}`).join(', ')})` : '';
    out.push(`  ${i + 1}. ${job.command.replace(/\n/g, '\n     ')}${params}`);
  });
  out.push(`every job renders on every sub-node; nothing was run and no file was changed.`);
  process.stdout.write(`${out.join('\n')}\n`);
  return EXIT.ok;
}

async function readQueueText(file: string, given: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read the queue file ${given}: ${(error as Error).message}.`, {
      place: { file: given },
      fix: 'Create it with one command per line, e.g. `- echo hello`, or point to it with --queue-file.',
      cause: error,
    });
  }
}

/** `pegasus q`: drain the queue on every sub-node. */
async function queueMode(options: CommonOptions): Promise<number> {
  const subnodes = await loadHosts(options.hostsFile);
  const files = queueFilesOf(options.queueFile);
  // Check the whole file once before connecting: a syntax error, an entry without `command` or a
  // parameter clash anywhere is reported before anything runs. Templates are checked as entries are taken.
  for (const entry of parseQueue(await readQueueText(files.queue, options.queueFile), options.queueFile)) {
    checkCollisions(entry, subnodes);
  }

  // Ctrl-C or SIGTERM: stop taking jobs, cancel running ones (they go back to the head of the queue).
  const abort = new AbortController();
  let stopSignal: 'SIGINT' | 'SIGTERM' | undefined;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => (): void => {
    stopSignal ??= signal;
    abort.abort();
  };
  const onSigint = onSignal('SIGINT');
  const onSigterm = onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
  const print = plainPrinter({ out: write(process.stdout), err: write(process.stderr) }, { printPeriod: options.printPeriod });
  const store = new QueueStore(files, {
    check: (entry) => checkEntry(entry, subnodes),
    onLockNotice: (notice) => print({ type: 'lock-notice', notice }),
  });
  const connections = await openConnections(options, subnodes);
  try {
    const summary = await runQueue({
      subnodes,
      store,
      executorFor: (subnode) => connections.executorFor(subnode),
      emit: print,
      signal: abort.signal,
    });
    process.stderr.write(summaryText(summary));
    if (stopSignal) return stopSignal === 'SIGINT' ? EXIT.interrupted : EXIT.terminated;
    if (summary.queueError) return EXIT.usage;
    return summary.failed.length > 0 || summary.stranded ? EXIT.failed : EXIT.ok;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    await connections.close();
  }
}

/** Executors per sub-node: local ones for localhost, pooled SSH connections for the rest. */
async function openConnections(
  options: CommonOptions,
  subnodes: readonly SubNode[],
): Promise<{ executorFor: (subnode: SubNode) => Promise<ExecutorOrError>; close: () => Promise<void> }> {
  const local = new LocalExecutor();
  const remote = subnodes.some((s) => !isLocalHost(s.host))
    ? new (await import('./exec/pool.js')).SshPool({ ...(options.sshConfig ? { configFile: options.sshConfig } : {}) })
    : undefined;
  return {
    executorFor: async (subnode) => {
      if (isLocalHost(subnode.host) || !remote) return { executor: local };
      return remote.executorFor(subnode.host);
    },
    close: async () => remote?.close(),
  };
}

async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv as string[]);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else if (error instanceof ConfigError) {
      process.stderr.write(`pegasus: ${error.describe()}\n`);
      if (debug) process.stderr.write(`${error.stack ?? ''}\n`);
      process.exitCode = EXIT.usage;
    } else {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`pegasus: internal error: ${message}\n`);
      process.stderr.write(debug && error instanceof Error ? `${error.stack ?? ''}\n` : 'Run again with --debug for details, and please report it.\n');
      process.exitCode = EXIT.failed;
    }
  }
}

await main(process.argv);
