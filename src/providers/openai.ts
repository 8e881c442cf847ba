// Any OpenAI-compatible server (vLLM, llama.cpp server, LM Studio, Ollama's /v1): chat completions, plain and SSE,
// and the full-fidelity passthrough of SPEC.md §5: the caller's body as sent, the upstream's answer as said, but `model`.
import type { EventSourceMessage, ParseError } from 'eventsource-parser';
import type { ProviderConfig } from '../config/schema.ts';
import type { InferRequest, Usage } from '../protocol/index.ts';
import { HttpProvider, type ProviderOptions } from './http.ts';
import { answersOk } from './readiness.ts';
import { MAX_EVENT_CHARS, type SseReader, sseStream } from './sse-reader.ts';
import { UpstreamCall } from './upstream-call.ts';
import { errorFieldsOf, streamEndedEarly, upstreamErrorMessage } from './upstream-errors.ts';
import { estimatePromptTokens, estimateTokens, usageOf } from './usage-estimate.ts';
import { ENDPOINT_PATHS, wantsUsage } from './openai-shapes.ts';
import { type Completion, type LlmProvider, type OpenAiCall, type StreamPiece, UpstreamError } from './types.ts';

interface ChoiceWire {
  message?: { content?: unknown };
  delta?: { content?: unknown };
  finish_reason?: unknown;
}
interface AnswerWire {
  choices?: ChoiceWire[];
  usage?: unknown;
  error?: unknown;
}

export class OpenAiProvider extends HttpProvider implements LlmProvider {
  readonly type = 'openai';

  constructor(config: ProviderConfig, options: ProviderOptions = {}) {
    super(config, options, config.apiKey ? { authorization: `Bearer ${config.apiKey}` } : {});
  }

  isAvailable(signal?: AbortSignal): Promise<boolean> {
    return answersOk(`${this.baseUrl}/models`, this.readinessHeaders, this.readinessTimeoutMs, signal);
  }

  async complete(request: InferRequest, signal: AbortSignal): Promise<Completion> {
    const answer = await this.postForAnswer<AnswerWire>('/chat/completions', this.body(request, false), signal);
    const choice = answer.choices?.[0];
    if (choice === undefined) throw new UpstreamError('protocol', 'upstream answer has no choices');
    const content = typeof choice.message?.content === 'string' ? choice.message.content : '';
    return {
      content,
      finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : null,
      usage: readUsage(answer.usage) ?? usageOf(estimatePromptTokens(request.messages), estimateTokens(content)),
    };
  }

  async *stream(request: InferRequest, signal: AbortSignal): AsyncGenerator<StreamPiece, void, undefined> {
    const call = new UpstreamCall(`${this.baseUrl}/chat/completions`, signal, this.idleMs);
    const frames = new FrameReader();
    let clean = false;
    try {
      await call.open({ method: 'POST', headers: this.headers, body: this.body(request, true) });
      yield* sseStream(call, frames);
      if (!frames.ended && frames.finishReason === undefined) throw streamEndedEarly();
      clean = true;
      yield {
        finishReason: frames.finishReason ?? null,
        // Servers that ignore stream_options send no usage: each delta is one token on the servers we know.
        usage: frames.usage ?? usageOf(estimatePromptTokens(request.messages), frames.deltas),
      };
    } finally {
      call.release(clean);
    }
  }

  async openai(call: OpenAiCall, signal: AbortSignal): Promise<Record<string, unknown>> {
    const answer = await this.postForAnswer<Record<string, unknown>>(ENDPOINT_PATHS[call.endpoint], this.passthroughBody(call), signal);
    if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) throw new UpstreamError('protocol', 'upstream answered JSON that is not an object');
    answer.model = call.model;
    return answer;
  }

  async *openaiStream(call: OpenAiCall, signal: AbortSignal): AsyncGenerator<string, void, undefined> {
    const upstream = new UpstreamCall(`${this.baseUrl}${ENDPOINT_PATHS[call.endpoint]}`, signal, this.idleMs);
    const payloads = new PassthroughReader(call.model, wantsUsage(call.body));
    let clean = false;
    try {
      await upstream.open({ method: 'POST', headers: this.headers, body: this.passthroughBody(call) });
      yield* sseStream(upstream, payloads);
      if (!payloads.ended && !payloads.finished) throw streamEndedEarly();
      clean = true;
    } finally {
      upstream.release(clean);
    }
  }

  /**
   * The caller's body with only `model` replaced; a stream also asks for the usage chunk (servers that do not know
   * `stream_options` ignore it), which the caller gets only if it asked for it too.
   */
  private passthroughBody(call: OpenAiCall): string {
    const body: Record<string, unknown> = { ...call.body, model: this.model };
    if (call.streaming) {
      body.stream = true;
      body.stream_options = { ...(call.body.stream_options as object | undefined), include_usage: true };
    }
    return JSON.stringify(body);
  }

  private body(request: InferRequest, stream: boolean): string {
    return JSON.stringify({
      model: request.model ?? this.model,
      messages: request.messages,
      temperature: request.temperature,
      max_tokens: request.max_tokens,
      stream,
      // Real usage at the end of the stream (vLLM, llama.cpp, LM Studio, Ollama); servers that do not know it ignore it.
      ...(stream ? { stream_options: { include_usage: true } } : {}),
    });
  }
}

/** The first `"model": "…"` member: a key (a string followed by a colon), never text inside a string (its quotes are escaped). */
const MODEL_MEMBER = /"model"\s*:\s*"(?:[^"\\]|\\.)*"/;
const FINISHED = /"finish_reason"\s*:\s*"/;
const NO_CHOICES = /"choices"\s*:\s*\[\s*\]/;

/** What becomes of one upstream payload: passed on (its `model` rewritten), dropped, or the stream's failure. */
type PayloadVerdict = { data: string; finished: boolean } | 'drop' | UpstreamError;

/**
 * One payload of a passthrough stream: `model` rewritten, patched in the text when the payload can be read without
 * parsing (`bench/passthrough.ts` puts that at a tenth of parsing and re-encoding it), else parsed. The usage chunk
 * we asked for on the caller's behalf is dropped when the caller did not ask for it: OpenAI would not send it.
 */
function passPayload(data: string, model: string, modelJson: string, keepUsage: boolean): PayloadVerdict {
  return patchPayload(data, modelJson, keepUsage) ?? parsePayload(data, model, keepUsage);
}

/** The text shortcut: `undefined` for anything that may be an error frame, or that has no top-level `model` to patch. */
function patchPayload(data: string, modelJson: string, keepUsage: boolean): { data: string; finished: boolean } | 'drop' | undefined {
  if (data.charCodeAt(0) !== 0x7b || data.charCodeAt(data.length - 1) !== 0x7d || data.includes('"error"')) return undefined;
  const match = MODEL_MEMBER.exec(data);
  if (match === null || !atTopLevel(data, match.index)) return undefined;
  if (!keepUsage && NO_CHOICES.test(data) && data.includes('"usage"')) return 'drop';
  return { data: data.slice(0, match.index) + `"model":${modelJson}` + data.slice(match.index + match[0].length), finished: FINISHED.test(data) };
}

function parsePayload(data: string, model: string, keepUsage: boolean): PayloadVerdict {
  let frame: Record<string, unknown>;
  try {
    frame = JSON.parse(data) as Record<string, unknown>;
  } catch {
    return new UpstreamError('protocol', `upstream sent a frame that is not JSON: ${JSON.stringify(data.slice(0, 200))}`);
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    return new UpstreamError('protocol', `upstream sent a frame that is not a JSON object: ${JSON.stringify(data.slice(0, 200))}`);
  }
  if (frame.error !== undefined && frame.error !== null) {
    return new UpstreamError('protocol', upstreamErrorMessage(frame.error) ?? 'upstream reported an error', undefined, errorFieldsOf(frame.error));
  }
  let finished = false;
  const choices = frame.choices;
  if (Array.isArray(choices)) {
    finished = choices.some((choice) => typeof (choice as ChoiceWire | null)?.finish_reason === 'string');
    if (choices.length === 0 && frame.usage != null && !keepUsage) return 'drop';
  }
  frame.model = model;
  return { data: JSON.stringify(frame), finished };
}

/** Whether `end` is inside the outermost object only (not in a nested object or array), reading strings right. */
function atTopLevel(data: string, end: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < end; i++) {
    const c = data.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return depth === 1 && !inString;
}

/** Passes each SSE `data` payload on as passPayload says; `[DONE]` and `error` events end the stream. */
class PassthroughReader implements SseReader<string> {
  readonly pending: string[] = [];
  failure: UpstreamError | undefined;
  /** Saw `[DONE]`. */
  ended = false;
  /** Saw a finish reason (some servers end the body without `[DONE]`). */
  finished = false;
  private readonly modelJson: string;

  constructor(
    private readonly model: string,
    private readonly keepUsage: boolean,
  ) {
    this.modelJson = JSON.stringify(model);
  }

  readonly onEvent = (event: EventSourceMessage): void => {
    if (this.ended || this.failure !== undefined) return;
    const data = event.data;
    if (data === '[DONE]') {
      this.ended = true;
      return;
    }
    if (event.event === 'error') {
      this.failure = errorFrame(data);
      return;
    }
    const verdict = passPayload(data, this.model, this.modelJson, this.keepUsage);
    if (verdict === 'drop') return;
    if (verdict instanceof UpstreamError) {
      this.failure = verdict;
      return;
    }
    if (verdict.finished) this.finished = true;
    this.pending.push(verdict.data);
  };

  readonly onError = (error: ParseError): void => {
    if (this.failure !== undefined) return;
    if (error.type === 'unknown-field' && error.field === 'error') {
      this.failure = errorFrame(error.value ?? '');
    } else if (error.type === 'max-buffer-size-exceeded') {
      this.failure = new UpstreamError('protocol', `upstream sent an event larger than ${MAX_EVENT_CHARS} characters`);
    }
  };
}

/** Turns SSE events of a chat completion stream into pieces; what it learns about the end waits in its fields. */
class FrameReader implements SseReader<StreamPiece> {
  readonly pending: StreamPiece[] = [];
  failure: UpstreamError | undefined;
  /** Saw `[DONE]`. */
  ended = false;
  finishReason: string | undefined;
  usage: Usage | undefined;
  deltas = 0;

  readonly onEvent = (event: EventSourceMessage): void => {
    if (this.ended || this.failure !== undefined) return;
    const data = event.data;
    if (data === '[DONE]') {
      this.ended = true;
      return;
    }
    if (event.event === 'error') {
      this.failure = errorFrame(data);
      return;
    }
    let frame: AnswerWire;
    try {
      frame = JSON.parse(data) as AnswerWire;
    } catch {
      this.failure = new UpstreamError('protocol', `upstream sent a frame that is not JSON: ${JSON.stringify(data.slice(0, 200))}`);
      return;
    }
    if (frame.error !== undefined) {
      this.failure = new UpstreamError('protocol', upstreamErrorMessage(frame.error) ?? 'upstream reported an error');
      return;
    }
    const choice = frame.choices?.[0];
    if (choice !== undefined) {
      const content = choice.delta?.content;
      if (typeof content === 'string' && content !== '') {
        this.pending.push({ content });
        this.deltas++;
      }
      if (typeof choice.finish_reason === 'string') this.finishReason = choice.finish_reason;
    }
    if (frame.usage != null) this.usage = readUsage(frame.usage) ?? this.usage;
  };

  /** llama.cpp's server reports a failure mid-stream as an `error:` field, which SSE calls an unknown field. */
  readonly onError = (error: ParseError): void => {
    if (this.failure !== undefined) return;
    if (error.type === 'unknown-field' && error.field === 'error') {
      this.failure = errorFrame(error.value ?? '');
    } else if (error.type === 'max-buffer-size-exceeded') {
      this.failure = new UpstreamError('protocol', `upstream sent an event larger than ${MAX_EVENT_CHARS} characters`);
    }
  };
}

function errorFrame(data: string): UpstreamError {
  let message: string | undefined;
  try {
    const parsed = JSON.parse(data) as { error?: unknown; message?: unknown };
    message = upstreamErrorMessage(parsed.error ?? parsed);
  } catch {
    message = data.trim() || undefined;
  }
  return new UpstreamError('protocol', message ?? 'upstream reported an error');
}

function readUsage(value: unknown): Usage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total } = value as Record<string, unknown>;
  if (typeof prompt !== 'number' || typeof completion !== 'number') return undefined;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: typeof total === 'number' ? total : prompt + completion };
}
