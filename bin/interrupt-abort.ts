export const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
export type Signal = keyof typeof SIGNAL_EXIT;

/**
 * For commands whose work sits in Redis (queued sweeps and plans): a signal does not exit at once,
 * as bin/interrupt.ts does for batch commands, but aborts, so the command can take its waiting jobs
 * out of Redis first; it then says what was left and exits with 128 + the signal's number.
 */
export function interruptAsAbort(): { signal: AbortSignal; readonly by: Signal | null; off(): void } {
  const abort = new AbortController();
  const state = { by: null as Signal | null };
  const handlers = (Object.keys(SIGNAL_EXIT) as Signal[]).map((sig) => {
    const handler = (): void => {
      state.by ??= sig;
      abort.abort();
    };
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  return {
    signal: abort.signal,
    get by() {
      return state.by;
    },
    off: () => {
      for (const [sig, handler] of handlers) process.off(sig, handler);
    },
  };
}
