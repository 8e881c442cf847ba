// Sends a streamed task's chunks to the hub strictly in order, one send at a time (SPEC.md §4). What arrives while a
// send is in flight, or within `coalesceMs` of the last send's start, goes with the next send: a fast model costs few
// POSTs, or few writes of an upload, and a slow hub slows only its own task. The first two sends go at once (time to
// first token), and so does what is left when the stream ends. The merge policy says what one send carries.
import { chunkEnvelope, type TaskResult } from '../src/protocol/index.ts';
import type { StreamPiece } from '../src/providers/types.ts';

/** Hands chunks to the hub, in order; resolves when the next send may start. */
export type SendChunks = (results: TaskResult[]) => Promise<void>;

/** What waits for the next send, and the chunks it becomes. */
export interface Merge<Piece> {
  add(piece: Piece): void;
  /** Something waits: text, a payload, or a finish reason not said yet. */
  readonly waiting: boolean;
  /** The waiting pieces as chunks numbered from `seq`; empties the merge. */
  take(seq: number): TaskResult[];
  /** The stream has ended well: what the last chunk must still say. */
  finish?(): void;
}

export class ResultPoster<Piece> {
  private inFlight: Promise<void> | undefined;
  private failure: unknown;
  private seq = 0;
  private lastSendAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  /** The stream has ended: nothing waits for the window any more. */
  private flushing = false;
  /** Sends made so far (a benchmark figure: how well pieces coalesce). */
  sends = 0;

  constructor(
    private readonly send: SendChunks,
    private readonly merge: Merge<Piece>,
    private readonly coalesceMs = 0,
  ) {}

  /** The seq the final `[DONE]` chunk takes. */
  get nextSeq(): number {
    return this.seq;
  }

  /** Takes one piece of the model's stream; throws when an earlier send failed for good (e.g. the task is gone). */
  push(piece: Piece): void {
    if (this.failure !== undefined) throw this.failure;
    this.merge.add(piece);
    this.pump();
  }

  /** Sends what is left (with what the merge says last); resolves when the hub has it all, throws what a send failed with. */
  async finish(): Promise<void> {
    this.merge.finish?.();
    await this.settle();
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * Sends what waits and waits for the sends, failures and all. After a failed stream: the model produced those
   * tokens, the caller sees them before the error, which comes next.
   */
  async settle(): Promise<void> {
    this.flushing = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pump();
    while (this.inFlight) await this.inFlight;
  }

  private pump(): void {
    if (this.inFlight || this.failure !== undefined || this.timer || !this.merge.waiting) return;
    // The first two sends go at once: an OpenAI stream's first payload is the role alone, and its first words must
    // not wait out the window behind it (time to first token).
    const wait = this.sends < 2 ? 0 : this.lastSendAt + this.coalesceMs - performance.now();
    if (wait > 0 && !this.flushing) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, wait);
      return;
    }
    this.lastSendAt = performance.now();
    const chunks = this.merge.take(this.seq);
    this.seq += chunks.length;
    this.sends++;
    this.inFlight = this.send(chunks).then(
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

/** Text from an `infer` stream: what waits becomes one chat.completion.chunk, the finish reason on the last one. */
export class TextMerge implements Merge<StreamPiece> {
  private text = '';
  private finishReason: string | null | undefined;
  private saidFinish = false;
  private saidRole = false;

  constructor(private readonly envelope: { id: string; model: string; created: number }) {}

  get waiting(): boolean {
    return this.text !== '' || (this.finishReason !== undefined && !this.saidFinish);
  }

  add(piece: StreamPiece): void {
    if (piece.content) this.text += piece.content;
    if (piece.finishReason !== undefined && piece.finishReason !== null) this.finishReason = piece.finishReason;
  }

  finish(): void {
    this.finishReason ??= 'stop';
  }

  take(seq: number): TaskResult[] {
    const finishing = this.finishReason !== undefined && !this.saidFinish;
    const chunk = chunkEnvelope({
      ...this.envelope,
      role: this.saidRole ? undefined : 'assistant',
      content: this.text,
      finishReason: finishing ? this.finishReason : null,
    });
    this.saidRole = true;
    this.saidFinish ||= finishing;
    this.text = '';
    return [{ chunk: { data: JSON.stringify(chunk), seq } }];
  }
}

/** An `openai` stream's SSE payloads: one chunk each (the hub relays each as one SSE event), never merged. */
export class PayloadMerge implements Merge<string> {
  private payloads: string[] = [];

  get waiting(): boolean {
    return this.payloads.length > 0;
  }

  add(payload: string): void {
    this.payloads.push(payload);
  }

  take(seq: number): TaskResult[] {
    const chunks = this.payloads.map((data, i): TaskResult => ({ chunk: { data, seq: seq + i } }));
    this.payloads = [];
    return chunks;
  }
}
