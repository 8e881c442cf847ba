// Posts an `openai` stream's SSE payloads to the hub as chunk results, one payload a chunk (the hub relays each as
// one SSE event, so payloads are never merged), strictly in order and one POST at a time, while the upstream goes on.
import type { TaskResult } from '../src/protocol/index.ts';

export class PayloadPoster {
  private readonly queue: string[] = [];
  private inFlight: Promise<void> | undefined;
  private failure: unknown;
  private seq = 0;
  /** POSTs made so far. */
  posts = 0;

  constructor(private readonly post: (result: TaskResult) => Promise<void>) {}

  /** The seq the final `[DONE]` chunk takes. */
  get nextSeq(): number {
    return this.seq;
  }

  /** Takes one payload; throws when an earlier POST failed for good (e.g. the task is gone). */
  push(data: string): void {
    if (this.failure !== undefined) throw this.failure;
    this.queue.push(data);
    this.pump();
  }

  /** Resolves when the hub has every payload pushed so far; throws what a POST failed with. */
  async flush(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    if (this.failure !== undefined) throw this.failure;
  }

  private pump(): void {
    if (this.inFlight || this.failure !== undefined) return;
    const data = this.queue.shift();
    if (data === undefined) return;
    const seq = this.seq++;
    this.posts++;
    this.inFlight = this.post({ chunk: { data, seq } }).then(
      () => {
        this.inFlight = undefined;
        this.pump();
      },
      (error: unknown) => {
        this.inFlight = undefined;
        this.failure = error;
      },
    );
  }
}
