// Colour: whether to use it (NO_COLOR, FORCE_COLOR, the terminal) and a stable colour per sub-node.
import { Chalk, type ChalkInstance } from 'chalk';

export type ColourLevel = 0 | 1 | 2 | 3;

/**
 * The colour level for a stream: NO_COLOR (any non-empty value, no-color.org) turns colour off,
 * FORCE_COLOR turns it on even when piped (0/false off, 1/true/empty basic, 2 256 colours, 3 truecolor);
 * otherwise a terminal gets colour unless TERM=dumb.
 */
export function colourLevel(env: NodeJS.ProcessEnv, isTTY: boolean): ColourLevel {
  const force = env.FORCE_COLOR;
  if (force !== undefined) {
    if (force === '0' || force === 'false') return 0;
    if (force === '2') return 2;
    if (force === '3') return 3;
    return 1;
  }
  if (env.NO_COLOR) return 0;
  if (!isTTY || env.TERM === 'dumb') return 0;
  if (env.COLORTERM === 'truecolor' || env.COLORTERM === '24bit') return 3;
  if (env.TERM?.includes('256')) return 2;
  return 1;
}

// Readable on dark and light backgrounds; red is left for failures.
const PALETTE = ['cyan', 'green', 'yellow', 'blue', 'magenta', 'cyanBright', 'greenBright', 'yellowBright', 'blueBright', 'magentaBright'] as const;

/** Paints text; the identity at level 0. */
export interface Painter {
  readonly level: ColourLevel;
  readonly chalk: ChalkInstance;
  /** `[label]` in the sub-node's colour (index picks it, so it is stable for the run). */
  prefix(label: string, index: number): string;
}

export function painter(level: ColourLevel): Painter {
  const chalk = new Chalk({ level });
  const cache = new Map<string, string>();
  return {
    level,
    chalk,
    prefix(label, index) {
      let text = cache.get(label);
      if (text === undefined) {
        text = level === 0 ? `[${label}]` : chalk[PALETTE[index % PALETTE.length] ?? 'cyan'](`[${label}]`);
        cache.set(label, text);
      }
      return text;
    },
  };
}
