// --json: one JSON object per line on stdout for every run event (schema in the README), for scripts and dashboards.
import { canonicalValue } from '../config/jobs.js';
import type { ExecResult } from '../exec/types.js';
import type { RunEvent, RunSummary } from '../run/events.js';

function resultJson(result: ExecResult): Record<string, unknown> {
  return {
    exitCode: result.exitCode,
    signal: result.signal,
    durationMs: Math.round(result.durationMs),
    cancelled: result.cancelled,
    timedOut: result.timedOut ?? false,
    transportError: result.transportError?.message ?? null,
    stopUnconfirmed: result.stopUnconfirmed?.message ?? null,
  };
}

/** The JSON form of an event: `event` names it, `time` is an ISO timestamp; jobs appear in canonical form. */
export function eventJson(event: RunEvent): Record<string, unknown> {
  const base = { event: event.type, time: new Date().toISOString() };
  switch (event.type) {
    case 'job-started':
      return { ...base, id: event.id, subnode: event.subnode.label, host: event.subnode.host, job: canonicalValue(event.job), command: event.command, attempt: event.attempt, ...(event.number === undefined ? {} : { number: event.number }), ...(event.slots ? { slots: event.slots } : {}) };
    case 'job-output':
      return { ...base, id: event.id, subnode: event.subnode.label, stream: event.stream, line: event.line };
    case 'job-finished':
      return { ...base, id: event.id, subnode: event.subnode.label, job: canonicalValue(event.job), ...resultJson(event.result), requeued: event.requeued, retrying: event.retrying ?? false, attempt: event.attempt ?? 1 };
    case 'host-connected':
    case 'host-reconnected':
      return { ...base, host: event.host };
    case 'host-failed':
      return { ...base, host: event.host, reason: event.error.reason, message: event.error.message };
    case 'host-lost':
      return { ...base, host: event.host, reason: event.error.reason, message: event.error.message, retryInMs: event.retryInMs };
    case 'queue-error':
      return { ...base, message: event.error.describe(), waiting: event.waiting };
    case 'queue-idle':
    case 'queue-missing':
      return { ...base, file: event.file };
    case 'lock-notice':
      return { ...base, ...event.notice };
    case 'stop-requested':
      return { ...base, stage: event.stage };
    case 'queue-size':
      return { ...base, entries: event.entries };
    case 'job-unrunnable':
      return { ...base, job: canonicalValue(event.job), reason: event.reason };
    case 'steer':
      return { ...base, action: event.action, ...(event.jobs ? { jobs: event.jobs } : {}), ...(event.requeue ? { requeue: true } : {}), ...(event.targets ? { targets: event.targets } : {}) };
    case 'subnode-added':
      return { ...base, subnode: event.subnode.label, host: event.subnode.host, slots: event.subnode.slots ?? 1 };
    case 'subnode-state':
      return { ...base, subnode: event.subnode.label, host: event.subnode.host, state: event.state };
    case 'hosts-reloaded':
      return { ...base, file: event.file, added: event.added, removed: event.removed, changed: event.changed };
    case 'hosts-error':
      return { ...base, message: event.error.describe() };
    case 'subnode-slots':
      return { ...base, subnode: event.subnode.label, host: event.subnode.host, slots: event.subnode.slots ?? 1, gpus: event.gpus };
    case 'gpu-state':
      return { ...base, subnode: event.subnode.label, host: event.subnode.host, gpus: event.gpus };
    case 'hook-failed':
      return { ...base, kind: event.kind, message: event.message, ...(event.job === undefined ? {} : { job: event.job }), ...(event.log ? { log: event.log } : {}) };
    case 'head-waiting':
      return { ...base, ...(event.job === undefined ? {} : { job: event.job, reason: event.reason }) };
    case 'gpu-error':
      return { ...base, host: event.host, message: event.message };
    case 'file-fault':
      return { ...base, file: event.error.file, code: event.error.code, message: event.error.describe(), stopping: event.stopping };
  }
}

/** The last line of a --json run. */
export function summaryJson(summary: RunSummary): Record<string, unknown> {
  return {
    event: 'run-finished',
    time: new Date().toISOString(),
    succeeded: summary.succeeded,
    failed: summary.failed.map((f) => ({ id: f.id, subnode: f.subnode.label, command: f.command, ...resultJson(f.result), attempts: f.attempts ?? 1 })),
    deadHosts: summary.deadHosts,
    queueError: summary.queueError?.describe() ?? null,
    stranded: summary.stranded,
    unrunnable: summary.unrunnable ?? [],
    fileFaults: (summary.fileFaults ?? []).map((f) => ({ file: f.file, code: f.code, message: f.describe() })),
    durationMs: Math.round(summary.durationMs),
  };
}

/** An event consumer writing one JSON line per event. */
export function jsonPrinter(write: (text: string) => void): (event: RunEvent) => void {
  return (event) => write(`${JSON.stringify(eventJson(event))}\n`);
}
