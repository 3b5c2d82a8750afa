// The errors pegasus throws for bad input or usage; only cli.ts turns them into text and an exit code.

/** Where in a file something is, 1-based, as editors count. */
export interface Place {
  readonly file: string;
  readonly line?: number;
  readonly col?: number;
}

/** Formats a place as `file:line:col` (parts that are unknown are left off). */
export function formatPlace(place: Place): string {
  let text = place.file;
  if (place.line !== undefined) {
    text += `:${place.line}`;
    if (place.col !== undefined) text += `:${place.col}`;
  }
  return text;
}

/**
 * A configuration or usage problem: bad YAML, a missing key, an unknown template variable, a bad
 * flag. The message is one paragraph saying what is wrong; `place` says where, `fix` how to mend it.
 * Exit code 2.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly place: Place | undefined;
  readonly excerpt: string | undefined;
  readonly fix: string | undefined;

  constructor(
    message: string,
    options: { place?: Place; excerpt?: string; fix?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.place = options.place;
    this.excerpt = options.excerpt;
    this.fix = options.fix;
  }

  /** The whole paragraph a user sees: place, message, excerpt, fix. */
  describe(): string {
    const head = this.place ? `${formatPlace(this.place)}: ${this.message}` : this.message;
    const parts = [head];
    if (this.excerpt) parts.push(this.excerpt);
    if (this.fix) parts.push(this.fix);
    return parts.join('\n');
  }
}

/**
 * A connection could not be made or was lost: DNS, refused, timeout, authentication, a changed
 * host key. Not thrown across the CLI boundary: executors return it inside a result value.
 */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  /** Short reason class, for summaries and retry decisions. */
  readonly reason: TransportReason;
  /** The host as the user named it. */
  readonly host: string;

  constructor(host: string, reason: TransportReason, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.host = host;
    this.reason = reason;
  }
}

export type TransportReason =
  | 'dns'
  | 'refused'
  | 'timeout'
  | 'auth'
  | 'host-key'
  | 'config'
  | 'lost'
  | 'channel'
  /** The login shell runs none of pegasus's command lines (nologin, a broken shell). */
  | 'shell'
  | 'other';
