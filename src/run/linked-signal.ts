// One attempt's abort signal, following the run's long-lived signals (cancel, `pegasus kill`) until the attempt is over.

/**
 * A signal that aborts (with the source's reason) when any of `sources` does, until `release()`.
 * Not AbortSignal.any (issue 17): on Node 20 every signal it makes stays in each source's list of
 * dependants for good, so a daemon combining its run-long cancel signal once per job kept all of
 * them (300,000 attempts: 300,000 dependants, 18 MB, after a full GC), and it cost 18 µs a call.
 * Here release() takes the listeners off the sources again. With one source there is nothing to
 * link: it is the signal.
 */
export function linkedSignal(sources: readonly (AbortSignal | undefined)[]): { readonly signal: AbortSignal | undefined; readonly release: () => void } {
  const present = sources.filter((s): s is AbortSignal => s !== undefined);
  if (present.length <= 1) return { signal: present[0], release: () => undefined };
  const controller = new AbortController();
  const aborted = present.find((s) => s.aborted);
  if (aborted) {
    controller.abort(aborted.reason);
    return { signal: controller.signal, release: () => undefined };
  }
  const release = (): void => {
    for (const source of present) source.removeEventListener('abort', onAbort);
  };
  function onAbort(this: AbortSignal): void {
    release();
    controller.abort(this.reason);
  }
  for (const source of present) source.addEventListener('abort', onAbort, { once: true });
  return { signal: controller.signal, release };
}
