// How many channels one SSH connection may carry at once: learnt from the channels sshd refuses.

/** Successes before the first probe above a level sshd refused; every refusal doubles it, up to LAST_PROBE_AFTER. */
const FIRST_PROBE_AFTER = 8;
/** The longest wait between probes, in successful channels: a level that was refused is tried again at least this often. */
const LAST_PROBE_AFTER = 256;

/**
 * sshd refuses a channel past its MaxSessions (and, when channels churn, a little before it; issue 7).
 * A refusal lowers the budget to the channels still open; a level above it is tried again only after
 * a run of successes, and each refusal doubles that run. Raising it after every success
 * put it straight back at the refused level: ~50 refusals per 40 jobs on a MaxSessions 2 host.
 */
export class ChannelBudget {
  private readonly max: number;
  private current: number;
  private successes = 0;
  private probeAfter = FIRST_PROBE_AFTER / 2;
  /** Refusals with no other channel open, since the last success. */
  private refusedAlone = 0;

  constructor(max: number) {
    this.max = Math.max(1, max);
    this.current = this.max;
  }

  /** The same budget for another connection to the same sshd (MaxSessions is per connection, the same for each). */
  copy(): ChannelBudget {
    const budget = new ChannelBudget(this.max);
    budget.current = this.current;
    budget.probeAfter = this.probeAfter;
    return budget;
  }

  /** Channels the connection may carry now. */
  get limit(): number {
    return this.current;
  }

  /**
   * A channel was refused while `open` others were still open (the refused one not counted).
   * Returns true when it is the second refusal in a row with none open: the connection has no
   * session to spare beside what holds it already (the host guard, under MaxSessions 1).
   */
  refused(open: number): boolean {
    if (open === 0) this.refusedAlone += 1;
    this.current = Math.max(1, Math.min(this.current - 1, open));
    this.successes = 0;
    this.probeAfter = Math.min(this.probeAfter * 2, LAST_PROBE_AFTER);
    if (this.refusedAlone < 2) return false;
    this.refusedAlone = 0;
    return true;
  }

  /** A channel opened and ran. */
  succeeded(): void {
    this.refusedAlone = 0;
    if (this.current >= this.max) return;
    this.successes += 1;
    if (this.successes < this.probeAfter) return;
    this.successes = 0;
    this.current += 1;
  }
}
