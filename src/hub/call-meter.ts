// What one call cost, measured on its way through the dispatcher: tokens from the answer's `usage` (the registrar
// asks streams for the usage chunk) or else an estimate, and the time to the first streamed chunk.
/** About four characters a token: the estimate when the model server reported no usage. */
const CHARS_PER_TOKEN = 4;

export class CallMeter {
  readonly startedAt: number;
  firstChunkAt: number | undefined;
  readonly #request: Record<string, unknown>;
  #reported: { tokensIn: number; tokensOut: number } | undefined;
  #streamedChunks = 0;
  #answerChars = 0;

  /** `request`: what the registrar is sent (the caller's body, or a base frame's request). */
  constructor(request: Record<string, unknown>, startedAt: number) {
    this.#request = request;
    this.startedAt = startedAt;
  }

  chunk(data: string, at: number): void {
    this.firstChunkAt ??= at;
    // Only a chunk that names usage is parsed: the others are counted, a streamed chunk being about one token.
    const usage = data.includes('"usage"') ? usageOf(parsed(data)) : undefined;
    if (usage) this.#reported = usage;
    else this.#streamedChunks++;
  }

  answer(body: Record<string, unknown>): void {
    const usage = usageOf(body);
    if (usage) this.#reported = usage;
    else this.#answerChars += answerText(body).length;
  }

  tokens(): { tokensIn: number; tokensOut: number } {
    if (this.#reported) return this.#reported;
    const asked = this.#request.messages ?? this.#request.prompt ?? this.#request.input ?? '';
    const askedChars = typeof asked === 'string' ? asked.length : JSON.stringify(asked).length;
    return {
      tokensIn: Math.ceil(askedChars / CHARS_PER_TOKEN),
      tokensOut: this.#streamedChunks + Math.ceil(this.#answerChars / CHARS_PER_TOKEN),
    };
  }
}

function parsed(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

function usageOf(answer: unknown): { tokensIn: number; tokensOut: number } | undefined {
  const usage = (answer as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } } | undefined)?.usage;
  if (typeof usage !== 'object' || usage === null) return undefined;
  const count = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : 0);
  return { tokensIn: count(usage.prompt_tokens), tokensOut: count(usage.completion_tokens) };
}

function answerText(body: Record<string, unknown>): string {
  const choices = Array.isArray(body.choices) ? (body.choices as { message?: { content?: unknown }; text?: unknown }[]) : [];
  return choices.map((choice) => (typeof choice.message?.content === 'string' ? choice.message.content : typeof choice.text === 'string' ? choice.text : '')).join('');
}
