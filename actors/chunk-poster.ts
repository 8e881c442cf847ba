// Streams a task's tokens to the hub as chunk results, strictly in order and one POST at a time. Tokens that
// arrive while a POST is in flight, or within `coalesceMs` of the last POST's start, are merged into the next chunk:
// a fast model costs few POSTs even when the hub answers at once, a slow hub slows only its own task (SPEC.md §4).
// The first token goes at once (time to first token), and so does what is left when the stream ends.
import { chunkEnvelope, type TaskResult } from '../src/protocol/index.ts';
import type { StreamPiece } from '../src/providers/types.ts';

export type PostChunk = (result: TaskResult) => Promise<void>;

export class ChunkPoster {
  private pending = '';
  private finishReason: string | null | undefined;
  private sentFinish = false;
  private sentRole = false;
  private inFlight: Promise<void> | undefined;
  private failure: unknown;
  private seq = 0;
  private lastPostAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  /** The stream has ended: nothing waits for the window any more. */
  private flushing = false;
  /** POSTs made so far (a benchmark figure: how well tokens coalesce). */
  posts = 0;

  constructor(
    private readonly post: PostChunk,
    private readonly envelope: { id: string; model: string; created: number },
    private readonly coalesceMs = 0,
  ) {}

  /** The seq the final `[DONE]` chunk takes. */
  get nextSeq(): number {
    return this.seq;
  }

  /** Takes one piece of the model's stream; throws when an earlier POST failed for good (e.g. the task is gone). */
  push(piece: StreamPiece): void {
    if (this.failure !== undefined) throw this.failure;
    if (piece.content) this.pending += piece.content;
    if (piece.finishReason !== undefined && piece.finishReason !== null) this.finishReason = piece.finishReason;
    this.pump();
  }

  /** Sends what is left, with the finish reason on the last content chunk; resolves when the hub has it all. */
  async finish(finishReason: string | null = 'stop'): Promise<void> {
    this.finishReason ??= finishReason;
    this.flush();
    while (this.inFlight) await this.inFlight;
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * The stream failed: sends the tokens still waiting (the model produced them; the caller sees them before the
   * error), without a finish reason, and waits for the POSTs. Its error result comes next.
   */
  async settle(): Promise<void> {
    this.flush();
    while (this.inFlight) await this.inFlight;
  }

  private flush(): void {
    this.flushing = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pump();
  }

  private pump(): void {
    if (this.inFlight || this.failure !== undefined || this.timer) return;
    const finishing = this.finishReason !== undefined && !this.sentFinish;
    if (this.pending === '' && !finishing) return;
    const wait = this.lastPostAt + this.coalesceMs - performance.now();
    if (wait > 0 && !this.flushing) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, wait);
      return;
    }
    this.lastPostAt = performance.now();
    const chunk = chunkEnvelope({
      ...this.envelope,
      role: this.sentRole ? undefined : 'assistant',
      content: this.pending,
      finishReason: finishing ? this.finishReason : null,
    });
    this.sentRole = true;
    this.sentFinish ||= finishing;
    this.pending = '';
    const seq = this.seq++;
    this.posts++;
    this.inFlight = this.post({ chunk: { data: JSON.stringify(chunk), seq } }).then(
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
