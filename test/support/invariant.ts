// The promise every fault test checks (issue 3): every task frame the daemon received gets exactly one final result
// (a 200 body, an error, or a `[DONE]` chunk) unless the hub answered 404 for it or sent cancel; a streamed answer
// carries seqs 0..n with no gap and its text is exactly what the model produced, nothing doubled or missing.
import { DONE, isFinalResult, type TaskResult } from '../../src/protocol/index.ts';

export interface InvariantInput {
  /** Ids of the task frames (infer, wake, or malformed but naming a task) the daemon received. */
  received: Iterable<string>;
  /** What the hub took, per task id, in arrival order (retried bodies may repeat). */
  results: Map<string, TaskResult[]>;
  /** Tasks the hub answered 404 for, or cancelled: they may end without a final result. */
  exempt?: Iterable<string>;
  /** What the model produced for a task (all of it, or what it sent before it failed): the hub must have exactly it. */
  text?: Record<string, string>;
}

/** What one task's results say, once retries (same body again) are folded. */
export interface TaskAccount {
  final?: TaskResult;
  /** Content of the chunks, in seq order. */
  text: string;
  seqs: number[];
}

/** Folds one task's results: the problems found, and what the hub ends up with. */
export function accountOf(taskId: string, results: TaskResult[]): { account: TaskAccount; problems: string[] } {
  const problems: string[] = [];
  const finals = new Map<string, TaskResult>();
  const chunks = new Map<number, { data: string; body: string }>();
  let finalSeen = false;
  let unnumbered = 0;
  for (const result of results) {
    const body = JSON.stringify(result);
    if (finalSeen && !finals.has(body)) problems.push(`${taskId}: a result came after its final one: ${body.slice(0, 200)}`);
    if ('chunk' in result) {
      const { seq, data } = result.chunk;
      if (seq === undefined) {
        unnumbered++;
      } else {
        const earlier = chunks.get(seq);
        if (earlier && earlier.body !== body) problems.push(`${taskId}: seq ${seq} was posted with two different bodies`);
        chunks.set(seq, { data, body });
      }
    }
    if (isFinalResult(result)) {
      finals.set(body, result);
      finalSeen = true;
    }
  }
  if (unnumbered > 0) problems.push(`${taskId}: ${unnumbered} chunk(s) without a seq`);
  if (finals.size > 1) problems.push(`${taskId}: ${finals.size} different final results: ${[...finals.keys()].map((b) => b.slice(0, 120)).join(' | ')}`);
  const seqs = [...chunks.keys()].sort((a, b) => a - b);
  seqs.forEach((seq, index) => {
    if (seq !== index) problems.push(`${taskId}: chunk seqs are not contiguous from 0: ${seqs.join(',')}`);
  });
  const final = [...finals.values()][0];
  if (final && 'chunk' in final && final.chunk.seq !== seqs.at(-1)) problems.push(`${taskId}: the [DONE] chunk is not the last seq`);
  let text = '';
  for (const seq of seqs) {
    const { data } = chunks.get(seq)!;
    if (data === DONE) continue;
    try {
      const content = (JSON.parse(data) as { choices?: { delta?: { content?: unknown } }[] }).choices?.[0]?.delta?.content;
      if (typeof content === 'string') text += content;
    } catch {
      problems.push(`${taskId}: chunk ${seq} is not JSON`);
    }
  }
  if (final && 'body' in final) {
    const content = (final.body as { choices?: { message?: { content?: unknown } }[] }).choices?.[0]?.message?.content;
    if (typeof content === 'string') text += content;
  }
  return { account: { final, text, seqs: [...new Set(seqs)] }, problems: [...new Set(problems)] };
}

/** Every way the results break the promise, one line each; an empty list means it holds. */
export function invariantViolations(input: InvariantInput): string[] {
  const received = new Set(input.received);
  const exempt = new Set(input.exempt ?? []);
  const problems: string[] = [];
  for (const taskId of input.results.keys()) {
    if (!received.has(taskId)) problems.push(`${taskId}: results for a task the daemon never received`);
  }
  for (const taskId of received) {
    const { account, problems: own } = accountOf(taskId, input.results.get(taskId) ?? []);
    problems.push(...own);
    if (!account.final) {
      if (!exempt.has(taskId)) problems.push(`${taskId}: no final result`);
      continue;
    }
    const expected = input.text?.[taskId];
    if (expected !== undefined && account.text !== expected) {
      problems.push(`${taskId}: the hub got ${JSON.stringify(account.text)}, the model produced ${JSON.stringify(expected)}`);
    }
  }
  return problems;
}

/** The error message of a task's final result, if it ended in one. */
export function finalError(results: TaskResult[] | undefined): string | undefined {
  const final = (results ?? []).find(isFinalResult);
  return final && 'error' in final ? final.error : undefined;
}
