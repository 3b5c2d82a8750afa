// The control endpoint's requests and replies: one JSON object per line each way (issue 14).

/** What a client may ask a running run. */
export type ControlRequest =
  | { readonly op: 'jobs' }
  | { readonly op: 'kill'; readonly jobs: readonly number[]; readonly requeue: boolean }
  | { readonly op: 'pause' | 'resume' | 'drain'; readonly targets: readonly string[] }
  | { readonly op: 'state' }
  /** Answered once those jobs have ended, or (no jobs) once the run is idle, or when the run ends (issue 16). */
  | { readonly op: 'wait'; readonly jobs?: readonly number[] };

/** A reply: `ok` with data, or an error in words. */
export type ControlReply = { readonly ok: true; readonly [key: string]: unknown } | { readonly ok: false; readonly error: string };

/** Checks a line from a client; undefined when it is not a request this endpoint knows. */
export function parseRequest(line: string): ControlRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'the request is not JSON';
  }
  if (typeof value !== 'object' || value === null) return 'the request is not a JSON object';
  const request = value as Record<string, unknown>;
  switch (request['op']) {
    case 'jobs':
    case 'state':
      return { op: request['op'] };
    case 'kill': {
      const jobs = request['jobs'];
      if (!Array.isArray(jobs) || jobs.length === 0 || !jobs.every((j) => Number.isInteger(j) && (j as number) > 0)) return 'kill needs "jobs": a list of job numbers';
      return { op: 'kill', jobs: jobs as number[], requeue: request['requeue'] === true };
    }
    case 'pause':
    case 'resume':
    case 'drain': {
      const targets = request['targets'] ?? [];
      if (!Array.isArray(targets) || !targets.every((t) => typeof t === 'string')) return `${request['op']} needs "targets": a list of hosts or sub-nodes`;
      return { op: request['op'], targets: targets as string[] };
    }
    case 'wait': {
      const jobs = request['jobs'];
      if (jobs === undefined) return { op: 'wait' };
      if (!Array.isArray(jobs) || !jobs.every((j) => Number.isInteger(j) && (j as number) > 0)) return 'wait takes "jobs": a list of job numbers';
      return { op: 'wait', jobs: jobs as number[] };
    }
    default:
      return `unknown op ${JSON.stringify(request['op'])}`;
  }
}
