// The exact text sent to the remote login shell so that `sh -c` receives the job as the user wrote it.

/** Quotes a string as one POSIX shell word: '…' with each ' written as '\'' (quotes, $, \ and newlines survive). */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line for an exec channel. The login shell parses it once; `sh -c` then gets the job
 * text byte for byte (DESIGN invariant 4), with stdin from /dev/null as for local jobs.
 */
export function remoteCommand(job: string): string {
  return `exec sh -c ${shellQuote(job)} </dev/null`;
}
