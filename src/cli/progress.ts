import { bytesText } from './format';

/** What a progress bar is told as work advances. */
export interface ProgressState {
  /** Bytes done and in all. */
  done: number;
  total: number;
  /** Extra text after the counts (e.g. `12/34 weights`). */
  detail?: string;
}

export interface ProgressBar {
  update(state: ProgressState): void;
  /** Removes the bar (if it was ever drawn). */
  stop(): void;
}

export interface ProgressOptions {
  /** Where to draw; a bar is drawn only when this is a TTY. Default process.stderr. */
  stream?: Pick<NodeJS.WriteStream, 'write' | 'isTTY' | 'columns'>;
  /** Show nothing at all. */
  quiet?: boolean;
  /** Work shorter than this never shows a bar (ms, default 1000). */
  delayMs?: number;
  /** Redraw at most this often (ms, default 100). */
  intervalMs?: number;
  now?: () => number;
}

const NO_BAR: ProgressBar = { update() {}, stop() {} };

/**
 * A one-line progress bar on stderr, for work that lasts: it appears only once the work has run
 * for `delayMs` and stderr is a terminal, so quick commands, pipes and logs stay clean.
 *
 * Hand-written rather than cli-progress: the bar must stay invisible for short runs (a delay
 * before the first draw, which cli-progress lacks), draw nothing at all off a terminal, and take
 * an injected clock and stream so its behaviour is tested exactly; that is the whole of it here,
 * in 70 lines, with no dependency and no change to what users saw.
 */
export function progressBar(options: ProgressOptions = {}): ProgressBar {
  const stream = options.stream ?? process.stderr;
  if (options.quiet || !stream.isTTY) return NO_BAR;
  const now = options.now ?? Date.now;
  const started = now();
  const delay = options.delayMs ?? 1000;
  const interval = options.intervalMs ?? 100;
  let drawnAt = -Infinity;
  let drawn = false;
  return {
    update(state) {
      const t = now();
      if (t - started < delay || t - drawnAt < interval) return;
      drawnAt = t;
      drawn = true;
      stream.write(`\r${barLine(state, t - started, stream.columns ?? 80)}\x1b[K`);
    },
    stop() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}

/** `[#######-------]  45%  1.2 GiB / 2.5 GiB  12/34 weights  ETA 3s`, fitted to the terminal. */
export function barLine(state: ProgressState, elapsedMs: number, columns: number): string {
  const fraction = state.total > 0 ? Math.min(1, state.done / state.total) : 0;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const eta = fraction > 0 && fraction < 1 ? `  ETA ${Math.ceil((elapsedMs * (1 - fraction)) / fraction / 1000)}s` : '';
  const text = `${percent}  ${bytesText(state.done)} / ${bytesText(state.total)}${state.detail ? `  ${state.detail}` : ''}${eta}`;
  const width = Math.max(10, Math.min(40, columns - text.length - 4));
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text}`.slice(0, Math.max(1, columns - 1));
}
