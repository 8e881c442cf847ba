// Ollama's native API: POST /api/chat, answered in one JSON or streamed as NDJSON (one JSON object a line).
import type { ProviderConfig } from '../config/schema.ts';
import type { InferRequest, Usage } from '../protocol/index.ts';
import {
  answersOk,
  estimatePromptTokens,
  estimateTokens,
  HttpProvider,
  parseJson,
  type ProviderOptions,
  streamEndedEarly,
  UpstreamCall,
  upstreamErrorMessage,
  usageOf,
} from './http.ts';
import { type Completion, type LlmProvider, type StreamPiece, UpstreamError } from './types.ts';

/** Longest line we buffer while waiting for its newline. */
const MAX_LINE_CHARS = 16 * 1024 * 1024;

interface ChatLine {
  message?: { content?: unknown };
  done?: unknown;
  done_reason?: unknown;
  prompt_eval_count?: unknown;
  eval_count?: unknown;
  error?: unknown;
}

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
    let buffered = '';
    let pieces = 0;
    let last: ChatLine | undefined;
    try {
      await call.open({ method: 'POST', headers: this.headers, body: this.body(request, true) });
      reading: for (let text = await call.read(); ; text = await call.read()) {
        if (text === undefined) {
          // A last line without its newline still counts.
          if (buffered.trim() === '') break;
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
          const content = parsed.message?.content;
          if (typeof content === 'string' && content !== '') {
            pieces++;
            yield { content };
          }
          if (parsed.done === true) {
            last = parsed;
            break reading;
          }
        }
        buffered = start === 0 ? buffered : buffered.slice(start);
        if (buffered.length > MAX_LINE_CHARS) throw new UpstreamError('protocol', `upstream sent a line longer than ${MAX_LINE_CHARS} characters`);
      }
      if (last === undefined) throw streamEndedEarly();
      clean = true;
      yield { finishReason: finishReasonOf(last), usage: usageOfLine(last, request, pieces) };
    } finally {
      call.release(clean);
    }
  }

  private body(request: InferRequest, stream: boolean): string {
    const options: { temperature?: number; num_predict?: number } = {};
    if (request.temperature !== undefined) options.temperature = request.temperature;
    if (request.max_tokens !== undefined) options.num_predict = request.max_tokens;
    return JSON.stringify({ model: request.model ?? this.model, messages: request.messages, stream, options });
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
