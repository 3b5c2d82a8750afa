// The live panel under the output: a row per sub-node (or per host when they do not fit a third of the screen) and one line of totals.
import { Box, Text } from 'ink';
import type { SubNodeView, ViewState } from '../state.js';
import { elapsed } from './format.js';
import { HostRow } from './HostRow.js';
import { SubNodeRow } from './SubNodeRow.js';

export interface PanelProps {
  readonly state: ViewState;
  /** The clock, passed in so that frames are a function of their inputs. */
  readonly now: number;
  readonly columns: number;
  readonly rows: number;
  /** e.g. "pegasus q · queue.yaml". */
  readonly title: string;
}

/** How many lines the panel may use: a third of the screen, at least 3. */
export function panelBudget(rows: number): number {
  return Math.max(3, Math.floor(rows / 3));
}

export function Panel({ state, now, columns, rows, title }: PanelProps) {
  const banner = stopBanner(state);
  const waits = state.headWaiting ? `job ${state.headWaiting.job} waits: ${state.headWaiting.reason}` : undefined;
  // The header and the totals take a line each, the Ctrl-C banner and the GPU wait one more each.
  const room = Math.max(1, panelBudget(rows) - 2 - (banner ? 1 : 0) - (waits ? 1 : 0));
  const header = `── ${title} · ${state.subnodes.length} sub-node${state.subnodes.length === 1 ? '' : 's'} · ${elapsed(now - state.startedAt)} `;
  return (
    <Box flexDirection="column" width={columns}>
      <Text dimColor wrap="truncate-end">
        {header + '─'.repeat(Math.max(0, columns - header.length))}
      </Text>
      {body(state.subnodes, room, now, state.barrier ?? false)}
      <Text wrap="truncate-end">{totalsLine(state)}</Text>
      {waits ? (
        <Text color="cyan" wrap="truncate-end">
          {waits}
        </Text>
      ) : null}
      {banner ? (
        <Text color="yellow" wrap="truncate-end">
          {banner}
        </Text>
      ) : null}
    </Box>
  );
}

function body(subnodes: readonly SubNodeView[], room: number, now: number, barrier: boolean) {
  if (subnodes.length <= room) {
    const labelWidth = Math.max(...subnodes.map((r) => r.ref.label.length), 0);
    return subnodes.map((row) => <SubNodeRow key={row.ref.index} row={row} labelWidth={labelWidth} now={now} barrier={barrier} />);
  }
  // Too many sub-nodes: one row per host; too many hosts as well: the busiest first, then a count of the rest.
  const byHost = new Map<string, SubNodeView[]>();
  for (const row of subnodes) {
    const list = byHost.get(row.ref.host);
    if (list) list.push(row);
    else byHost.set(row.ref.host, [row]);
  }
  const hosts = [...byHost.entries()];
  const shown = hosts.length <= room ? hosts : hosts.slice(0, room - 1);
  const labelWidth = Math.max(...shown.map(([host]) => host.length), 0);
  const rest = hosts.slice(shown.length);
  const restRunning = rest.reduce((n, [, rows]) => n + rows.filter((r) => r.state === 'running').length, 0);
  const restSubnodes = rest.reduce((n, [, rows]) => n + rows.length, 0);
  return [
    ...shown.map(([host, rows]) => <HostRow key={host} host={host} rows={rows} labelWidth={labelWidth} now={now} />),
    ...(rest.length > 0
      ? [
          <Text key="rest" dimColor wrap="truncate-end">
            {`  … ${rest.length} more host${rest.length === 1 ? '' : 's'}: ${restRunning}/${restSubnodes} sub-nodes running`}
          </Text>,
        ]
      : []),
  ];
}

/** "done 12 · failed 1 · running 2 · retried 0 · queued 30 entries", then lock and daemon notes. */
export function totalsLine(state: ViewState): string {
  const t = state.totals;
  const parts = [`done ${t.done}`, `failed ${t.failed}`, `running ${t.running}`, `retried ${t.retried}`];
  if (t.queued !== undefined) parts.push(`queued ${t.queued} entr${t.queued === 1 ? 'y' : 'ies'}`);
  if (state.lockedBy) parts.push(`queue locked by ${state.lockedBy.pid ? `pid ${state.lockedBy.pid}` : 'another process'}${state.lockedBy.what ? ` (${state.lockedBy.what})` : ''}`);
  if (state.paused) parts.push('paused (pegasus resume)');
  if (state.waiting === 'queue-empty') parts.push('waiting for queue changes');
  if (state.waiting === 'queue-missing') parts.push('queue file missing, waiting for it');
  if (state.waiting === 'queue-broken') parts.push('queue file has an error, waiting for a fix');
  return parts.join(' · ');
}

function stopBanner(state: ViewState): string | undefined {
  const n = state.totals.running;
  const jobs = `${n} running job${n === 1 ? '' : 's'}`;
  if (state.stop === 'drain') return `stopping: no new jobs are taken; waiting for ${jobs} to finish. Ctrl-C again cancels ${n === 1 ? 'it' : 'them'}.`;
  if (state.stop === 'cancel') return `cancelling ${jobs}; ${n === 1 ? 'it goes' : 'they go'} back to the head of the queue.`;
  return undefined;
}
