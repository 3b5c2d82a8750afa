// The errors pegasus throws for bad input or usage, and for files it cannot write; only cli.ts turns them into text and an exit code.
import os from 'node:os';

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

/** Why a file could not be written, by error code: what happened and what the user can do about it there. */
const WRITE_FAULTS: Readonly<Record<string, { readonly reason: (user: string) => string; readonly remedy: string }>> = {
  ENOSPC: { reason: () => 'no space is left on its file system', remedy: 'Free some space there' },
  // Disk quotas run out like a full disk, only for one user; handled the same way (not reproducible in the tests).
  EDQUOT: { reason: (user) => `the disk quota of user ${user} is used up on its file system`, remedy: 'Free some space there (or ask for a larger quota)' },
  EROFS: { reason: () => 'its file system is read-only', remedy: 'Remount it read-write' },
  EACCES: {
    reason: (user) => `permission denied for user ${user}`,
    remedy: 'Make it and its folder writable for that user (pegasus writes a new file beside a queue file and renames it over), e.g. with chmod or chown',
  },
  EPERM: { reason: (user) => `the operation is not permitted for user ${user}`, remedy: 'Make it and its folder writable for that user, e.g. with chmod or chown' },
};

/** Which files a write fault is about: the queue's (queue, lock, consumed.yaml, failed.yaml, journal) or the job logs. */
export type FileRole = 'queue' | 'log';

/** How to put each kind of file somewhere else instead. */
const ELSEWHERE: Readonly<Record<FileRole, string>> = {
  queue: 'or use --queue-file to keep the queue on another file system (consumed.yaml, failed.yaml and .pegasus/ go beside it)',
  log: 'or use --log-dir to keep job logs elsewhere',
};

/**
 * A file pegasus has to write cannot be written (issue 13): its file system is full (ENOSPC,
 * EDQUOT) or read-only (EROFS), or the user may not write it (EACCES, EPERM). One paragraph names
 * the file, the reason and the fix; `note` says what became of the jobs involved. Exit code 1.
 */
export class FileError extends Error {
  override readonly name = 'FileError';
  readonly file: string;
  readonly code: string;
  readonly role: FileRole;
  readonly note: string | undefined;
  private readonly user: string;

  constructor(file: string, code: string, options: { role?: FileRole; note?: string; user?: string; cause?: unknown } = {}) {
    const user = options.user ?? currentUser();
    super(`cannot write ${file}: ${WRITE_FAULTS[code]?.reason(user) ?? 'the system refused the write'} (${code}).`, options.cause === undefined ? undefined : { cause: options.cause });
    this.file = file;
    this.code = code;
    this.role = options.role ?? 'queue';
    this.note = options.note;
    this.user = user;
  }

  /** The whole paragraph a user sees: what could not be written and why, what became of the jobs, the fix. */
  describe(): string {
    const remedy = WRITE_FAULTS[this.code]?.remedy ?? 'Make it writable';
    return [this.message, this.note, `${remedy}, ${ELSEWHERE[this.role]}.`].filter(Boolean).join(' ');
  }

  /** The same fault with a sentence about the jobs it concerns (several notes add up). */
  withNote(note: string): FileError {
    return new FileError(this.file, this.code, {
      role: this.role,
      note: this.note ? `${this.note} ${note}` : note,
      user: this.user,
      cause: this.cause,
    });
  }
}

/** The FileError for an error from writing `file`, or undefined when it is not a full, read-only or forbidden file system. */
export function fileErrorOf(error: unknown, file: string, role: FileRole = 'queue'): FileError | undefined {
  if (error instanceof FileError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && code in WRITE_FAULTS ? new FileError(file, code, { role, cause: error }) : undefined;
}

/** Rethrows an error from writing `file` as a FileError when it is one (see `fileErrorOf`), unchanged otherwise. */
export function asFileError(file: string, role: FileRole = 'queue'): (error: unknown) => never {
  return (error) => {
    throw fileErrorOf(error, file, role) ?? error;
  };
}

function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}
