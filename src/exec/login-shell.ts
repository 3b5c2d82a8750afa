// What a host's login shell needs to run pegasus's sh command lines byte for byte: the two dialects, the portable bootstrap, and the probe that picks one per connection.
import { shellQuote } from './wrapper.js';

/**
 * sshd hands every exec request to the user's login shell as `$SHELL -c LINE` (issue 13). pegasus's
 * lines are POSIX sh. sh, bash, dash, zsh, mksh and BusyBox ash read them as written ('posix');
 * fish (`\\` and `\'` are escapes inside single quotes, no `$$`) and csh/tcsh (no newline inside
 * quotes, `!` history, no `1<>`, words of at most ~8 KiB) do not, and ran jobs wrong or not at all.
 * For those the line is sent 'portable': as the argument words of one fixed bootstrap that every
 * shell reads the same way.
 */
export type Dialect = 'posix' | 'portable';

/**
 * Bytes sent as themselves inside a portable word: characters that are literal inside single
 * quotes in sh, fish and csh alike. Everything else (`'`, `\`, `!`, `%`, tab, newline, other
 * control characters, non-ASCII bytes) is written as printf's `\ooo` (or `%%`).
 */
const SAFE = /^[A-Za-z0-9 _.,:;=+\-/@#^&*()[\]{}<>|?~`"$]$/;
/** bsd-csh refuses a word past about 8 KiB ("Word too long"); 1,000 characters leave room. */
const WORD = 1000;
/**
 * The bootstrap, itself made only of SAFE characters: it joins its argument words (IFS empty),
 * has printf turn them back into the POSIX line (the `x` keeps trailing newlines from `$(…)`),
 * and evaluates that line in the same process, so `$$` is still the login shell's pid, which
 * sshd made a session and process-group leader.
 */
const BOOTSTRAP = 'IFS=;j=$(printf "$*"x);unset IFS;eval "${j%x}"';

/** The text as printf-format tokens (a safe character, `%%` or `\\ooo`), packed into words of at most WORD characters. */
function encodedWords(text: string): string[] {
  const parts: string[] = [];
  let word = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte);
    // printf would take a format that starts with - for an option.
    const first = parts.length === 0 && word === '';
    let token: string;
    if (char === '%') token = '%%';
    else if (byte < 0x80 && SAFE.test(char) && !(first && char === '-')) token = char;
    else token = `\\${byte.toString(8).padStart(3, '0')}`;
    if (word.length + token.length > WORD) {
      parts.push(word);
      word = '';
    }
    word += token;
  }
  if (word !== '' || parts.length === 0) parts.push(word);
  return parts;
}

/** The POSIX sh line `line` as the login shell of a host in `dialect` must be sent it. */
export function commandLine(dialect: Dialect, line: string): string {
  if (dialect === 'posix') return line;
  return `exec sh -c '${BOOTSTRAP}' pegasus ${encodedWords(line)
    .map((w) => `'${w}'`)
    .join(' ')}`;
}

/**
 * What the probe sends as one quoted word: every character that POSIX quoting treats specially,
 * runs of quotes (zsh's RC_QUOTES), a tab, a newline and UTF-8. A shell that gives the word back
 * byte for byte reads pegasus's quoting as sh does.
 */
export const PROBE_WORD = `a'b''c"d\\e\\\\f $HOME \`g\` $(h) !i !! %j #k ~ * {l,m} ;\tn\no é☃`;

/**
 * The probe's line in the posix dialect: the constructs a job's line uses before its `exec` (a
 * group, `||`, `$$`, a read-write redirection), then `script` run by sh with PROBE_WORD as `$1`.
 */
export function probeLine(script: string, name: string): string {
  return `[ -n "$$" ] || { exit 9; }; : 1<>/dev/null; exec sh -c ${shellQuote(script)} ${name} ${shellQuote(PROBE_WORD)}`;
}

/** The line a probe script prints first (`printf '%s\n' "pegasus-probe:$1:end"`), seen when the login shell read the probe as sh does. */
export const PROBE_ECHO = `pegasus-probe:${PROBE_WORD}:end\n`;
/** The sh statement a probe script starts with. */
export const PROBE_PRINT = `printf '%s\\n' "pegasus-probe:$1:end"`;
