// What `up` and `start` show while people wait: a register that retries, a task stream that reconnects, a wake that
// runs. On a terminal, one spinner line (on stderr) with the countdown to the next try; otherwise one log line each.
import type { StatusTracker, TransitionNotice } from '../../inspect/tracker.ts';
import type { Logger } from '../log.ts';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK_MS = 100;

interface Waiting {
  /** Redrawn on every tick, so countdowns move. */
  text: () => string;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(Math.max(0, ms) / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

export interface ProgressOptions {
  /** Draw a spinner (default: when `stream` is a terminal). */
  spinner?: boolean;
  /** Where the spinner goes; default stderr. */
  stream?: Pick<NodeJS.WriteStream, 'write' | 'isTTY' | 'columns'>;
  /** Where log lines go (through {@link Progress.writeLogLine}); default stdout. */
  logStream?: Pick<NodeJS.WriteStream, 'write'>;
}

export class Progress {
  readonly #spinner: boolean;
  readonly #stream: NonNullable<ProgressOptions['stream']>;
  readonly #logStream: NonNullable<ProgressOptions['logStream']>;
  readonly #waiting = new Map<string, Waiting>();
  #timer?: NodeJS.Timeout;
  #frame = 0;
  #drawn = false;
  #logger?: Logger;

  constructor(options: ProgressOptions = {}) {
    this.#stream = options.stream ?? process.stderr;
    this.#logStream = options.logStream ?? process.stdout;
    this.#spinner = options.spinner ?? this.#stream.isTTY === true;
  }

  /** For createLogger's `prettyOutput`: a log line clears the spinner, then the spinner comes back under it. */
  readonly writeLogLine = (text: string): void => {
    this.#clear();
    this.#logStream.write(text);
    this.#draw();
  };

  /** Follows the daemon through the tracker; `logger` carries the lines when there is no spinner. */
  watch(tracker: Pick<StatusTracker, 'onTransition'>, logger: Logger): () => void {
    this.#logger = logger;
    return tracker.onTransition((notice) => {
      if (notice.kind === 'session') this.#onSession(notice);
      else if (notice.kind === 'provider') this.#onProvider(notice);
    });
  }

  stop(): void {
    this.#waiting.clear();
    this.#render();
  }

  #onSession(notice: TransitionNotice): void {
    const context = notice.context as { attempt: number; retryDelayMs: number; lastError?: string; refused?: boolean };
    const waitingFrom = Date.parse(notice.at);
    const nextTry = () => seconds(waitingFrom + context.retryDelayMs - Date.now());
    // The delay first: a narrow terminal cuts the end of the line, and the error is in the log line above it.
    const why = context.lastError ? `: ${context.lastError}` : '';
    switch (notice.to) {
      case 'retrying': {
        const what = context.refused ? 'the hub refused the register' : 'register failed';
        this.#set('session', () => `${what}, next try in ${nextTry()} (attempt ${context.attempt})${why}`);
        this.#line('warn', { delayMs: context.retryDelayMs, attempt: context.attempt }, `${what}, next try in ${seconds(context.retryDelayMs)} (attempt ${context.attempt})${why}`);
        return;
      }
      case 'connected.backoff':
        this.#set('session', () => `task stream lost, reconnecting in ${nextTry()} (attempt ${context.attempt})${why}`);
        this.#line('warn', { delayMs: context.retryDelayMs, attempt: context.attempt }, `task stream lost, reconnecting in ${seconds(context.retryDelayMs)} (attempt ${context.attempt})${why}`);
        return;
      case 'registering':
        this.#set('session', () => (notice.from === '' ? 'registering with the hub…' : 'registering with the hub again…'));
        return;
      case 'connected.streaming.connecting':
        this.#set('session', () => 'opening the task stream…');
        return;
      default:
        this.#set('session', undefined);
    }
  }

  #onProvider(notice: TransitionNotice): void {
    const name = notice.actor.replace(/^provider:/, '');
    const key = `wake:${name}`;
    const waking = notice.to.startsWith('waking');
    if (waking && !notice.from.startsWith('waking')) {
      const started = Date.parse(notice.at);
      const limitMs = notice.context.wakeMaxWaitMs as number;
      this.#set(key, () => `waking provider '${name}': ${seconds(Date.now() - started)} so far (gives up after ${seconds(limitMs)})`);
      this.#line('info', { provider: name }, `waking provider '${name}': waiting up to ${seconds(limitMs)} for it to be ready`);
    } else if (!waking && this.#waiting.has(key)) {
      this.#set(key, undefined);
      if (notice.to === 'active') this.#line('info', { provider: name, ms: notice.context.lastWakeMs }, `provider '${name}' is awake (${seconds(notice.context.lastWakeMs as number)})`);
      else this.#line('warn', { provider: name }, `provider '${name}' did not wake: ${String(notice.context.lastError ?? notice.to)}`);
    }
  }

  #set(key: string, text: (() => string) | undefined): void {
    if (text) this.#waiting.set(key, { text });
    else this.#waiting.delete(key);
    this.#render();
  }

  /** Without a spinner, say it once in the log; with one, the spinner line says it. */
  #line(level: 'info' | 'warn', fields: Record<string, unknown>, message: string): void {
    if (!this.#spinner) this.#logger?.[level](fields, message);
  }

  #render(): void {
    if (!this.#spinner) return;
    if (this.#waiting.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#clear();
      return;
    }
    this.#timer ??= setInterval(() => {
      this.#frame = (this.#frame + 1) % FRAMES.length;
      this.#clear();
      this.#draw();
    }, TICK_MS).unref();
    this.#clear();
    this.#draw();
  }

  #clear(): void {
    if (!this.#drawn) return;
    this.#stream.write('\r\x1b[2K');
    this.#drawn = false;
  }

  #draw(): void {
    if (!this.#spinner || this.#waiting.size === 0) return;
    const text = [...this.#waiting.values()].map((waiting) => waiting.text()).join('  ·  ');
    const width = this.#stream.columns || 120;
    const line = `${FRAMES[this.#frame]} ${text}`;
    const shown = line.length > width - 1 ? `${line.slice(0, width - 2)}…` : line;
    this.#stream.write(process.env.NO_COLOR ? shown : `\x1b[36m${shown}\x1b[0m`);
    this.#drawn = true;
  }
}
