// Small text helpers of the live panel: elapsed times and state marks.
import type { SubNodeState } from '../state.js';

/** 7s, 1m05s, 2h03m. */
export function elapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** One character per state, readable without colour. */
export const MARK: Record<SubNodeState, string> = { running: '●', idle: '○', reconnecting: '↻', down: '✗' };

export const STATE_COLOUR: Record<SubNodeState, string> = { running: 'green', idle: 'gray', reconnecting: 'yellow', down: 'red' };

/** Slot occupancy as a bar: ▮ in use, ▯ free (`▮▮▯▯▮▮▮▮`). */
export function slotBar(occupancy: readonly boolean[]): string {
  return occupancy.map((used) => (used ? '▮' : '▯')).join('');
}
