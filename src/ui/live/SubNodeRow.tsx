// One sub-node in the panel: state, elapsed time, attempt and the running command, cut to one line.
import { Text } from 'ink';
import { oldestJob, type SubNodeView } from '../state.js';
import { elapsed, MARK, slotBar, STATE_COLOUR } from './format.js';
import { oneLine } from '../plain.js';
import { gpuCells } from '../gpu-text.js';

export interface SubNodeRowProps {
  readonly row: SubNodeView;
  readonly labelWidth: number;
  readonly now: number;
  /** Broadcast mode: a paused sub-node holds the barrier. */
  readonly barrier?: boolean;
}

export function SubNodeRow({ row, labelWidth, now, barrier = false }: SubNodeRowProps) {
  const label = row.ref.label.padEnd(labelWidth);
  const job = oldestJob(row);
  const more = row.jobs.size > 1 ? ` (+${row.jobs.size - 1} more)` : '';
  const detail =
    row.state === 'running' && job
      ? `${elapsed(now - job.since).padStart(6)}  ${job.number === undefined ? '' : `#${job.number} `}${job.attempt > 1 ? `(attempt ${job.attempt}) ` : ''}${oneLine(job.command)}`
      : row.state;
  const held = row.standing ? ` [${row.standing}${barrier && row.standing === 'paused' ? ': holds the barrier' : ''}]` : '';
  return (
    <Text wrap="truncate-end">
      <Text color={STATE_COLOUR[row.state]}>{MARK[row.state]}</Text> {label}  {row.occupancy ? `${slotBar(row.occupancy)}  ` : ''}
      {row.gpus && row.gpus.length > 0 ? `${gpuCells(row.gpus)}  ` : ''}
      {detail}
      {more}
      {held}
    </Text>
  );
}
