// The exit codes, in one place (README "Exit status").

/** 0 all succeeded · 1 a job failed, timed out or was lost · 2 usage or configuration error · 130 Ctrl-C · 143 SIGTERM. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130, terminated: 143 } as const;
