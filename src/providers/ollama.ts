// Ollama's native API: POST /api/chat, answered in one JSON or streamed as NDJSON (one JSON object a line); for
// `openai` frames also /api/generate (completions) and /api/embed, translated in ollama-translate.ts.
import type { ProviderConfig } from '../config/schema.ts';
import type { InferRequest, Usage } from '../protocol/index.ts';
import { HttpProvider, parseJson, type ProviderOptions } from './http.ts';
import { answersOk } from './readiness.ts';
import { UpstreamCall } from './upstream-call.ts';
import { streamEndedEarly, upstreamErrorMessage } from './upstream-errors.ts';
import { estimatePromptTokens, estimateTokens, usageOf } from './usage-estimate.ts';
import { ChunkWriter, chatCompletion, embeddingInputs, embeddingList, textChunk, textCompletion, wantsUsage } from './openai-shapes.ts';
import {
  chatChoice,
  finishReasonOf as nativeFinishReason,
  ollamaChatBody,
  ollamaEmbedBody,
  ollamaGenerateBody,
  type OllamaLine,
  toolCallsOf,
  usageOfLine as nativeUsage,
} from './ollama-translate.ts';
import { type Completion, type LlmProvider, type OpenAiCall, type StreamPiece, UpstreamError } from './types.ts';

/** Longest line we buffer while waiting for its newline. */
const MAX_LINE_CHARS = 16 * 1024 * 1024;

type ChatLine = OllamaLine;

export class OllamaProvider extends HttpProvider implements LlmProvider {
  readonly type = 'ollama';

  constructor(config: ProviderConfig, options: ProviderOptions = {}) {
    // Ollama has no auth of its own; a key is for the reverse proxy in front of it.
    super(config, options, config.apiKey ? { authorization: `Bearer ${config.apiKey}` } : {});
  }

  isAvailable(signal?: AbortSignal): Promise<boolean> {
    return answersOk(`${this.baseUrl}/api/version`, this.readinessHeaders, this.readinessTimeoutMs, signal);
  }

  async complete(request: InferRequest, signal: AbortSignal): Promise<Completion> {
    const answer = await this.postForAnswer<ChatLine>('/api/chat', this.body(request, false), signal);
    const content = typeof answer.message?.content === 'string' ? answer.message.content : '';
    return { content, finishReason: finishReasonOf(answer), usage: usageOfLine(answer, request, estimateTokens(content)) };
  }

  async *stream(request: InferRequest, signal: AbortSignal): AsyncGenerator<StreamPiece, void, undefined> {
    const call = new UpstreamCall(`${this.baseUrl}/api/chat`, signal, this.idleMs);
    let clean = false;
    let pieces = 0;
    let last: ChatLine | undefined;
    try {
      await call.open({ method: 'POST', headers: this.headers, body: this.body(request, true) });
      for await (const line of ndjsonLines(call)) {
        const content = line.message?.content;
        if (typeof content === 'string' && content !== '') {
          pieces++;
          yield { content };
        }
        if (line.done === true) {
          last = line;
          break;
        }
      }
      if (last === undefined) throw streamEndedEarly();
      clean = true;
      yield { finishReason: finishReasonOf(last), usage: usageOfLine(last, request, pieces) };
    } finally {
      call.release(clean);
    }
  }

  async openai(call: OpenAiCall, signal: AbortSignal): Promise<Record<string, unknown>> {
    switch (call.endpoint) {
      case 'chat.completions': {
        const answer = await this.postForAnswer<ChatLine>('/api/chat', JSON.stringify(ollamaChatBody(call, this.model)), signal);
        return chatCompletion(call, chatChoice(answer, call.taskId), nativeUsage(answer));
      }
      case 'completions': {
        const answer = await this.postForAnswer<ChatLine>('/api/generate', JSON.stringify(ollamaGenerateBody(call, this.model)), signal);
        return textCompletion(call, typeof answer.response === 'string' ? answer.response : '', nativeFinishReason(answer, false), nativeUsage(answer));
      }
      case 'embeddings': {
        const inputs = embeddingInputs(call.body, 'Ollama');
        const answer = await this.postForAnswer<{ embeddings?: unknown; prompt_eval_count?: unknown; error?: unknown }>(
          '/api/embed',
          JSON.stringify(ollamaEmbedBody(call, this.model, inputs)),
          signal,
        );
        const vectors = answer.embeddings;
        if (!Array.isArray(vectors) || vectors.length !== inputs.length) throw new UpstreamError('protocol', `upstream answered ${Array.isArray(vectors) ? vectors.length : 'no'} embeddings for ${inputs.length} inputs`);
        return embeddingList(call, vectors as number[][], typeof answer.prompt_eval_count === 'number' ? answer.prompt_eval_count : 0);
      }
    }
  }

  async *openaiStream(call: OpenAiCall, signal: AbortSignal): AsyncGenerator<string, void, undefined> {
    if (call.endpoint === 'embeddings') {
      yield JSON.stringify(await this.openai(call, signal));
      return;
    }
    const chat = call.endpoint === 'chat.completions';
    const body = chat ? ollamaChatBody(call, this.model) : ollamaGenerateBody(call, this.model);
    const upstream = new UpstreamCall(`${this.baseUrl}${chat ? '/api/chat' : '/api/generate'}`, signal, this.idleMs);
    const writer = new ChunkWriter(call);
    let clean = false;
    let toolCalls = 0;
    let last: ChatLine | undefined;
    try {
      await upstream.open({ method: 'POST', headers: this.headers, body: JSON.stringify(body) });
      for await (const line of ndjsonLines(upstream)) {
        if (chat) {
          const thinking = line.message?.thinking;
          if (typeof thinking === 'string' && thinking !== '') yield writer.reasoning(thinking);
          const content = line.message?.content;
          if (typeof content === 'string' && content !== '') yield writer.content(content);
          // Ollama streams each tool call whole, in one line: OpenAI's first delta of a call can carry it all.
          for (const toolCall of toolCallsOf(line.message?.tool_calls, call.taskId, toolCalls)) {
            yield writer.toolCallStart(toolCalls++, toolCall.id, toolCall.name, toolCall.arguments);
          }
        } else if (typeof line.response === 'string' && line.response !== '') {
          yield textChunk(call, line.response, null);
        }
        if (line.done === true) {
          last = line;
          break;
        }
      }
      if (last === undefined) throw streamEndedEarly();
      clean = true;
      const reason = nativeFinishReason(last, toolCalls > 0);
      const usage = wantsUsage(call.body) ? nativeUsage(last) : undefined;
      if (chat) {
        yield writer.finish(reason);
        if (usage) yield writer.usage(usage);
      } else {
        yield textChunk(call, '', reason);
        if (usage) yield textChunk(call, '', null, usage);
      }
    } finally {
      upstream.release(clean);
    }
  }

  private body(request: InferRequest, stream: boolean): string {
    const options: { temperature?: number; num_predict?: number } = {};
    if (request.temperature !== undefined) options.temperature = request.temperature;
    if (request.max_tokens !== undefined) options.num_predict = request.max_tokens;
    return JSON.stringify({ model: request.model ?? this.model, messages: request.messages, stream, options });
  }
}

/** The lines of an NDJSON body, parsed; an `{"error": …}` line (Ollama's failure inside a 200) throws. */
async function* ndjsonLines(call: UpstreamCall): AsyncGenerator<ChatLine, void, undefined> {
  let buffered = '';
  for (let text = await call.read(); ; text = await call.read()) {
    if (text === undefined) {
      // A last line without its newline still counts.
      if (buffered.trim() === '') return;
      text = '\n';
    }
    buffered += text;
    let start = 0;
    for (let end = buffered.indexOf('\n'); end !== -1; end = buffered.indexOf('\n', start)) {
      const line = buffered.slice(start, end).trim();
      start = end + 1;
      if (line === '') continue;
      const parsed = parseJson(line, 'a line') as ChatLine;
      if (parsed.error !== undefined) throw new UpstreamError('protocol', upstreamErrorMessage(parsed.error) ?? 'upstream reported an error');
      yield parsed;
    }
    buffered = start === 0 ? buffered : buffered.slice(start);
    if (buffered.length > MAX_LINE_CHARS) throw new UpstreamError('protocol', `upstream sent a line longer than ${MAX_LINE_CHARS} characters`);
  }
}

function finishReasonOf(line: ChatLine): string | null {
  return typeof line.done_reason === 'string' ? line.done_reason : line.done === true ? 'stop' : null;
}

/** Ollama leaves out prompt_eval_count when the whole prompt came from its cache: then the prompt is estimated. */
function usageOfLine(line: ChatLine, request: InferRequest, completionFallback: number): Usage {
  const prompt = typeof line.prompt_eval_count === 'number' ? line.prompt_eval_count : estimatePromptTokens(request.messages);
  const completion = typeof line.eval_count === 'number' ? line.eval_count : completionFallback;
  return usageOf(prompt, completion);
}
