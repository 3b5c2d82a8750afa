// One host in the panel when its sub-nodes do not fit one row each: counts by state and its longest-running job.
import { Text } from 'ink';
import { oldestJob, type SubNodeView } from '../state.js';
import { elapsed, MARK, STATE_COLOUR } from './format.js';
import { oneLine } from '../plain.js';

export interface HostRowProps {
  readonly host: string;
  readonly rows: readonly SubNodeView[];
  readonly labelWidth: number;
  readonly now: number;
}

export function HostRow({ host, rows, labelWidth, now }: HostRowProps) {
  const count = (state: SubNodeView['state']) => rows.filter((r) => r.state === state).length;
  const running = count('running');
  const state = running > 0 ? 'running' : count('down') === rows.length ? 'down' : count('reconnecting') > 0 ? 'reconnecting' : 'idle';
  const parts = [`${running}/${rows.length} running`];
  for (const other of ['reconnecting', 'down'] as const) if (count(other) > 0) parts.push(`${count(other)} ${other}`);
  const jobs = rows.map(oldestJob).filter((j) => j !== undefined);
  const oldest = jobs.sort((a, b) => a.since - b.since)[0];
  const longest = oldest ? `  longest ${elapsed(now - oldest.since)}: ${oneLine(oldest.command)}` : '';
  return (
    <Text wrap="truncate-end">
      <Text color={STATE_COLOUR[state]}>{MARK[state]}</Text> {host.padEnd(labelWidth)}  {parts.join(', ')}
      {longest}
    </Text>
  );
}
