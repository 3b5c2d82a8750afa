// --group and --keep-order (issue 8): each job's output shown as one block when it ends, optionally in the order jobs were taken.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { RunEvent } from '../run/events.js';

/** Past this much text a block is no longer held in memory: its lines are read back from the job's log file when it ends. */
export const GROUP_SPOOL_BYTES = 1 << 20;

type Started = Extract<RunEvent, { type: 'job-started' }>;
type Finished = Extract<RunEvent, { type: 'job-finished' }>;

interface Block {
  readonly started: Started;
  lines: RunEvent[];
  bytes: number;
  spooled: boolean;
  finished?: Finished;
}

export interface GroupOptions {
  readonly keepOrder: boolean;
  /** The complete log file of a finished attempt (for blocks too big to hold). */
  readonly logOf: (id: number) => Promise<string | undefined>;
  readonly spoolBytes?: number;
}

export interface Grouper {
  readonly onEvent: (event: RunEvent) => void;
  /** Shows every block still held (the run is over), in job order. */
  readonly flush: () => Promise<void>;
}

/** Wraps an event consumer so that each attempt's events reach it together, when the attempt ends. */
export function grouped(next: (event: RunEvent) => void, options: GroupOptions): Grouper {
  const limit = options.spoolBytes ?? GROUP_SPOOL_BYTES;
  const blocks = new Map<number, Block>();
  // keep-order: finished blocks by job number, and what each number still waits for.
  const byNumber = new Map<number, { blocks: Block[]; open: number; retrying: boolean }>();
  const skipped = new Set<number>();
  let nextNumber = 1;
  // Blocks are shown one after another, also when one is read back from its log file.
  let chain = Promise.resolve();

  const show = (block: Block): void => {
    chain = chain.then(() => emitBlock(block, next, options));
  };
  const release = (): void => {
    for (;;) {
      if (skipped.delete(nextNumber)) {
        nextNumber += 1;
        continue;
      }
      const entry = byNumber.get(nextNumber);
      if (!entry || entry.open > 0 || entry.retrying) return;
      for (const block of entry.blocks) show(block);
      byNumber.delete(nextNumber);
      nextNumber += 1;
    }
  };

  const onEvent = (event: RunEvent): void => {
    switch (event.type) {
      case 'job-started': {
        blocks.set(event.id, { started: event, lines: [], bytes: 0, spooled: false });
        if (options.keepOrder && event.number !== undefined) {
          const entry = byNumber.get(event.number) ?? { blocks: [], open: 0, retrying: false };
          entry.open += 1;
          entry.retrying = false;
          byNumber.set(event.number, entry);
        }
        return;
      }
      case 'job-output': {
        const block = blocks.get(event.id);
        if (!block) return next(event);
        if (block.spooled) return; // it is in the log file
        block.lines.push(event);
        block.bytes += event.line.length + 1;
        if (block.bytes > limit) {
          block.spooled = true;
          block.lines = [];
        }
        return;
      }
      case 'job-finished': {
        const block = blocks.get(event.id);
        if (!block) return next(event);
        blocks.delete(event.id);
        block.finished = event;
        const number = block.started.number;
        if (!options.keepOrder || number === undefined) return show(block);
        const entry = byNumber.get(number) ?? { blocks: [], open: 1, retrying: false };
        entry.blocks.push(block);
        entry.open -= 1;
        entry.retrying = event.retrying === true;
        byNumber.set(number, entry);
        return release();
      }
      case 'job-unrunnable':
        next(event);
        if (options.keepOrder && event.number !== undefined) {
          skipped.add(event.number);
          release();
        }
        return;
      default:
        return next(event);
    }
  };

  const flush = async (): Promise<void> => {
    const rest = [...byNumber.entries()].sort(([a], [b]) => a - b).flatMap(([, entry]) => entry.blocks);
    byNumber.clear();
    for (const block of rest) show(block);
    // Attempts that never finished (the run stopped under them): what they printed so far.
    for (const block of blocks.values()) show(block);
    blocks.clear();
    await chain;
  };

  return { onEvent, flush };
}

async function emitBlock(block: Block, next: (event: RunEvent) => void, options: GroupOptions): Promise<void> {
  next(block.started);
  if (!block.spooled) {
    for (const line of block.lines) next(line);
  } else {
    const file = await options.logOf(block.started.id);
    if (file) {
      const { id, subnode } = block.started;
      // The log has a `=== run` first line and a `=== done` last line; stderr lines are marked.
      let first = true;
      let held: string | undefined;
      for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
        if (first) {
          first = false;
          continue;
        }
        if (held !== undefined) emitLine(held);
        held = text;
      }
      if (held !== undefined && !(block.finished && held.startsWith('=== '))) emitLine(held);
      function emitLine(text: string): void {
        const stderr = text.startsWith('[stderr] ');
        next({ type: 'job-output', id, subnode, stream: stderr ? 'stderr' : 'stdout', line: stderr ? text.slice(9) : text });
      }
    }
  }
  if (block.finished) next(block.finished);
}
