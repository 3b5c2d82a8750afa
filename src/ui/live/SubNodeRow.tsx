// One sub-node in the panel: state, elapsed time, attempt and the running command, cut to one line.
import { Text } from 'ink';
import { type SubNodeView } from '../state.js';
import { elapsed, MARK, STATE_COLOUR } from './format.js';
import { oneLine } from '../plain.js';

export interface SubNodeRowProps {
  readonly row: SubNodeView;
  readonly labelWidth: number;
  readonly now: number;
}

export function SubNodeRow({ row, labelWidth, now }: SubNodeRowProps) {
  const label = row.ref.label.padEnd(labelWidth);
  const detail =
    row.state === 'running' && row.since !== undefined
      ? `${elapsed(now - row.since).padStart(6)}  ${row.attempt && row.attempt > 1 ? `(attempt ${row.attempt}) ` : ''}${oneLine(row.command ?? '')}`
      : row.state;
  return (
    <Text wrap="truncate-end">
      <Text color={STATE_COLOUR[row.state]}>{MARK[row.state]}</Text> {label}  {detail}
    </Text>
  );
}
