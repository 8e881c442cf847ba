// A streamed task's results as one upload to a hub that speaks `result.stream` (SPEC.md §4): one chunked POST whose
// NDJSON body carries each chunk as it comes and then the final result. When the upload breaks, the hub is asked
// which `seq` it has, and a new upload carries what came after it: nothing lost, nothing doubled.
import type { ClientRequest } from 'node:http';
import { HubCallError, sessionHeader, TaskGoneError, type HubClient } from '../src/hub-client.ts';
import { paths, type TaskResult } from '../src/protocol/index.ts';

const NDJSON = 'application/x-ndjson';

interface Line {
  seq?: number;
  text: string;
}

export class ResultUpload {
  /** Lines written on uploads the hub has not confirmed yet, resent after a break: at most the task's answer. */
  private unconfirmed: Line[] = [];
  private request: ClientRequest | undefined;
  /** Resolves with the hub's answer to the open upload (rejects when it broke). */
  private answer: Promise<void> | undefined;
  private resuming: Promise<void> | undefined;
  private failure: unknown;
  /** Uploads opened so far (a benchmark figure: 1 unless one broke). */
  uploads = 0;

  constructor(
    private readonly hub: HubClient,
    private readonly taskId: string,
    /** The session the task was sent to: each upload names it. */
    private readonly sessionId: string,
    private readonly signal: AbortSignal,
  ) {}

  /** Writes chunks, in one socket write; resolves once they are handed to the socket (or resent after a break). */
  async send(results: TaskResult[]): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    const lines = results.map((result): Line => ({ seq: 'chunk' in result ? result.chunk.seq : undefined, text: `${JSON.stringify(result)}\n` }));
    this.unconfirmed.push(...lines);
    if (this.resuming) return this.resuming;
    this.write(lines);
  }

  /** Writes the final result, ends the upload and resolves when the hub has taken every line. */
  async finish(result: TaskResult): Promise<void> {
    await this.send([result]);
    for (;;) {
      if (this.resuming) await this.resuming;
      if (this.failure !== undefined) throw this.failure;
      const answer = this.answer;
      this.request?.end();
      try {
        await answer;
        return;
      } catch (error) {
        // A break: the upload resumes (or has failed for good), and the loop ends the new one.
        if (this.failure === undefined && this.resuming === undefined) throw error;
      }
    }
  }

  /**
   * Ends the upload without a final result (the stream failed: its error result is posted on its own), once the hub
   * has the lines written so far: the caller sees the tokens the model produced before the error.
   */
  async close(): Promise<void> {
    if (this.resuming) await this.resuming.catch(() => undefined);
    const answer = this.answer;
    this.request?.end();
    this.request = undefined;
    await answer?.catch(() => undefined);
  }

  private write(lines: Line[]): void {
    if (lines.length === 0) return;
    if (!this.request) this.open();
    this.request!.write(lines.length === 1 ? lines[0].text : lines.map((line) => line.text).join(''));
  }

  private open(): void {
    this.uploads++;
    const request = this.hub.resultRequest(paths.resultStream(this.taskId), 'POST', { 'content-type': NDJSON, ...sessionHeader(this.sessionId) }, 0, this.signal, 'upload');
    this.request = request;
    this.answer = new Promise<void>((resolve, reject) => {
      request.on('response', (response) => {
        const status = response.statusCode ?? 0;
        response.resume();
        if (status >= 200 && status < 300) resolve();
        else if (status === 404) reject(new TaskGoneError(this.taskId));
        else if (status === 400 || status === 413 || status === 415) reject(new HubCallError(`the hub refused the results of task ${this.taskId} (${status})`, status));
        else reject(new Error(`the hub answered ${status} to the upload`));
      });
      request.on('error', reject);
    });
    // A break before the final line is noticed here, so the chunks after it go on a new upload.
    this.answer.catch((error: unknown) => {
      if (this.request !== request) return;
      this.request = undefined;
      if (error instanceof TaskGoneError || error instanceof HubCallError || this.signal.aborted) this.failure = error;
      else this.resuming ??= this.resume(1, Date.now() + this.hub.resultDeadline);
    });
  }

  /** Asks the hub which `seq` it has, drops what it confirmed, and writes the rest on a new upload. */
  private async resume(firstAttempt: number, deadlineAt: number): Promise<void> {
    try {
      for (let attempt = firstAttempt; ; attempt++) {
        await sleep(this.hub.resultRetryDelay(attempt), this.signal);
        try {
          const seq = await this.highestSeq();
          this.unconfirmed = this.unconfirmed.filter((line) => line.seq === undefined || line.seq > seq);
          this.write(this.unconfirmed);
          return;
        } catch (error) {
          if (error instanceof TaskGoneError || this.signal.aborted) throw error;
          if (Date.now() >= deadlineAt) throw new HubCallError(`result of task ${this.taskId} lost: the hub did not take it within ${this.hub.resultDeadline} ms`);
        }
      }
    } catch (error) {
      this.failure = error;
    } finally {
      this.resuming = undefined;
    }
  }

  private highestSeq(): Promise<number> {
    return new Promise((resolve, reject) => {
      const request = this.hub.resultRequest(paths.resultStream(this.taskId), 'GET', sessionHeader(this.sessionId), 10_000, this.signal);
      request.on('response', (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (piece: string) => (text += piece.slice(0, 1_000)));
        response.on('end', () => {
          if (response.statusCode === 404) return reject(new TaskGoneError(this.taskId));
          const seq = (() => {
            try {
              return (JSON.parse(text) as { seq?: unknown }).seq;
            } catch {
              return undefined;
            }
          })();
          if (response.statusCode === 200 && typeof seq === 'number') resolve(seq);
          else reject(new Error(`the hub answered ${response.statusCode} when asked for the upload's seq`));
        });
        response.on('error', reject);
      });
      request.on('timeout', () => request.destroy(new Error('the hub did not answer in time')));
      request.on('error', reject);
      request.end();
    });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
