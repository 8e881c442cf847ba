// Anthropic Messages ⇄ chat.completions, both ways, pure: a Messages request becomes a chat body, a chat answer
// becomes a Messages `message`; errors take Anthropic's shape. The streamed answer is in anthropic-stream.ts.
import type {
  ChatCompletionContentPart,
  ChatCompletionContentPartText,
  ChatCompletionMessageParam,
  ChatCompletionMessageToolCall,
  ChatCompletionTool,
  ChatCompletionToolChoiceOption,
} from 'openai/resources/chat/completions';
import type { Answer } from './chat-answer.ts';
import type { ChatBody } from './chat-caller.ts';
import { systemFirst } from './chat-system-first.ts';
import type { AnthropicBlock, CountTokensRequest, MessagesRequest } from './anthropic-request.ts';

export type Translated<T> = { ok: true; value: T } | { ok: false; message: string };

/** Fields of a Messages request that only Anthropic's own servers can honour: refused, never dropped. */
const SERVER_SIDE_FIELDS = ['container', 'mcp_servers'] as const;

class Refusal extends Error {}

function refuse(message: string): never {
  throw new Refusal(message);
}

function textOf(blocks: readonly AnthropicBlock[] | string, path: string): string {
  if (typeof blocks === 'string') return blocks;
  return blocks
    .map((block, i) => (block.type === 'text' && typeof block.text === 'string' ? block.text : refuse(`${path}[${i}]: a ${block.type} block cannot be carried here, only text`)))
    .join('\n\n');
}

function imagePart(block: AnthropicBlock, path: string): ChatCompletionContentPart {
  const source = block.source as { type?: unknown; media_type?: unknown; data?: unknown; url?: unknown } | undefined;
  if (source?.type === 'base64' && typeof source.media_type === 'string' && typeof source.data === 'string') {
    return { type: 'image_url', image_url: { url: `data:${source.media_type};base64,${source.data}` } };
  }
  if (source?.type === 'url' && typeof source.url === 'string') return { type: 'image_url', image_url: { url: source.url } };
  return refuse(`${path}.source: only base64 and url images can be relayed (a file id lives on Anthropic's servers)`);
}

function toolResultMessages(block: AnthropicBlock, path: string): ChatCompletionMessageParam[] {
  if (typeof block.tool_use_id !== 'string') refuse(`${path}.tool_use_id: expected a string`);
  const content = (block.content ?? '') as string | AnthropicBlock[];
  const texts: string[] = [];
  const images: ChatCompletionContentPart[] = [];
  if (typeof content === 'string') texts.push(content);
  else if (Array.isArray(content)) {
    content.forEach((inner, i) => {
      if (inner.type === 'text' && typeof inner.text === 'string') texts.push(inner.text);
      else if (inner.type === 'image') images.push(imagePart(inner, `${path}.content[${i}]`));
      else refuse(`${path}.content[${i}]: a ${inner.type} block in a tool_result cannot be relayed, only text and images`);
    });
  } else refuse(`${path}.content: expected a string or an array of blocks`);
  // Chat has no error flag on a tool message: the model still needs to know the call failed.
  const text = (block.is_error === true ? '[tool error] ' : '') + texts.join('\n\n');
  const tool: ChatCompletionMessageParam = { role: 'tool', tool_call_id: block.tool_use_id as string, content: text };
  // A tool message carries text only: the images it returned follow as the user's.
  return images.length ? [tool, { role: 'user', content: images }] : [tool];
}

/** Blocks a caller replays from an earlier answer that carry nothing a chat model can read back. */
const REPLAYED_ONLY = new Set(['thinking', 'redacted_thinking']);

function userMessages(blocks: readonly AnthropicBlock[], path: string): ChatCompletionMessageParam[] {
  const toolResults: ChatCompletionMessageParam[] = [];
  const parts: ChatCompletionContentPart[] = [];
  blocks.forEach((block, i) => {
    const at = `${path}[${i}]`;
    if (block.type === 'text' && typeof block.text === 'string') parts.push({ type: 'text', text: block.text });
    else if (block.type === 'image') parts.push(imagePart(block, at));
    else if (block.type === 'tool_result') toolResults.push(...toolResultMessages(block, at));
    else if (!REPLAYED_ONLY.has(block.type)) refuse(`${at}: a ${block.type} block cannot be relayed to a chat-completions model (text, image, tool_result only)`);
  });
  // Tool messages must follow the assistant turn that called the tools, before anything else the user says.
  const said: ChatCompletionMessageParam[] = [];
  if (parts.length) {
    const allText = parts.every((p) => p.type === 'text');
    said.push({ role: 'user', content: allText ? (parts as ChatCompletionContentPartText[]).map((p) => p.text).join('\n\n') : parts });
  }
  return [...toolResults, ...said];
}

function assistantMessage(blocks: readonly AnthropicBlock[], path: string): ChatCompletionMessageParam {
  const texts: string[] = [];
  const calls: ChatCompletionMessageToolCall[] = [];
  blocks.forEach((block, i) => {
    const at = `${path}[${i}]`;
    if (block.type === 'text' && typeof block.text === 'string') texts.push(block.text);
    else if (block.type === 'tool_use') {
      if (typeof block.id !== 'string' || typeof block.name !== 'string') refuse(`${at}: a tool_use needs an id and a name`);
      calls.push({ id: block.id as string, type: 'function', function: { name: block.name as string, arguments: JSON.stringify(block.input ?? {}) } });
    } else if (!REPLAYED_ONLY.has(block.type)) refuse(`${at}: a ${block.type} block cannot be relayed to a chat-completions model (text, tool_use only)`);
  });
  const content = texts.length ? texts.join('') : null;
  return calls.length ? { role: 'assistant', content, tool_calls: calls } : { role: 'assistant', content: content ?? '' };
}

function chatMessages(request: CountTokensRequest): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = [];
  if (request.system !== undefined) {
    const system = textOf(request.system as AnthropicBlock[] | string, 'system');
    if (system) out.push({ role: 'system', content: system });
  }
  request.messages.forEach((message, i) => {
    const path = `messages[${i}].content`;
    if (message.role === 'system') out.push({ role: 'system', content: textOf(message.content as AnthropicBlock[] | string, path) });
    else if (typeof message.content === 'string') out.push({ role: message.role, content: message.content });
    else if (message.role === 'user') out.push(...userMessages(message.content as AnthropicBlock[], path));
    else out.push(assistantMessage(message.content as AnthropicBlock[], path));
  });
  return out;
}

function chatTools(tools: CountTokensRequest['tools']): ChatCompletionTool[] | undefined {
  return tools?.map((tool, i) => {
    if (tool.type !== undefined && tool.type !== null && tool.type !== 'custom') {
      refuse(`tools[${i}]: '${tool.type}' is a tool Anthropic runs on its own servers; only custom tools (name, input_schema) can be relayed`);
    }
    const schema = tool.input_schema;
    if (!schema || typeof schema !== 'object') refuse(`tools[${i}].input_schema: expected a JSON schema object`);
    return {
      type: 'function',
      function: {
        name: tool.name,
        ...(typeof tool.description === 'string' ? { description: tool.description } : {}),
        parameters: schema as Record<string, unknown>,
        ...(typeof tool.strict === 'boolean' ? { strict: tool.strict } : {}),
      },
    };
  });
}

function chatToolChoice(choice: MessagesRequest['tool_choice']): { tool_choice?: ChatCompletionToolChoiceOption; parallel_tool_calls?: boolean } {
  if (!choice) return {};
  const parallel = 'disable_parallel_tool_use' in choice && choice.disable_parallel_tool_use === true ? { parallel_tool_calls: false } : {};
  switch (choice.type) {
    case 'auto':
      return { tool_choice: 'auto', ...parallel };
    case 'any':
      return { tool_choice: 'required', ...parallel };
    case 'tool':
      return { tool_choice: { type: 'function', function: { name: choice.name } }, ...parallel };
    case 'none':
      return { tool_choice: 'none' };
  }
}

/** Anthropic's thinking budget or effort, as the reasoning_effort chat servers know (vLLM, Ollama, LM Studio). */
function reasoningEffort(request: MessagesRequest): ChatBody['reasoning_effort'] | undefined {
  const effort = request.output_config?.effort;
  if (effort === 'low' || effort === 'medium') return effort;
  if (effort === 'high' || effort === 'xhigh' || effort === 'max') return 'high';
  if (request.thinking?.type !== 'enabled') return undefined;
  const budget = request.thinking.budget_tokens;
  return budget < 4096 ? 'low' : budget < 16384 ? 'medium' : 'high';
}

/** A Messages request as the chat.completions body that asks the same of a chat model. */
export function messagesToChat(request: MessagesRequest): Translated<ChatBody> {
  try {
    for (const field of SERVER_SIDE_FIELDS) {
      if (request[field] !== undefined && request[field] !== null) refuse(`${field}: runs on Anthropic's own servers and cannot be relayed to a chat model`);
    }
    const tools = chatTools(request.tools);
    const effort = reasoningEffort(request);
    const format = request.output_config?.format;
    const body: ChatBody = {
      model: request.model,
      messages: systemFirst(chatMessages(request)),
      max_tokens: request.max_tokens,
      ...(request.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
      ...(request.stop_sequences?.length ? { stop: request.stop_sequences } : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...(request.top_p !== undefined ? { top_p: request.top_p } : {}),
      ...(request.top_k !== undefined ? { top_k: request.top_k } : {}),
      ...(typeof request.metadata?.user_id === 'string' ? { user: request.metadata.user_id } : {}),
      ...(tools?.length ? { tools } : {}),
      ...(tools?.length ? chatToolChoice(request.tool_choice) : {}),
      ...(effort ? { reasoning_effort: effort } : {}),
      ...(format ? { response_format: { type: 'json_schema', json_schema: { name: 'output', schema: format.schema, strict: true } } } : {}),
    } as ChatBody;
    return { ok: true, value: body };
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, message: error.message };
    throw error;
  }
}

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'refusal';

export function stopReasonOf(finishReason: string | null | undefined, sawToolCall: boolean, stopString: string | undefined, stopSequences: readonly string[]): { stop_reason: StopReason; stop_sequence: string | null } {
  if (finishReason === 'length') return { stop_reason: 'max_tokens', stop_sequence: null };
  if (finishReason === 'content_filter') return { stop_reason: 'refusal', stop_sequence: null };
  // Some servers (Ollama among them) say `stop` after a tool call: the caller must still run its tools.
  if (finishReason === 'tool_calls' || finishReason === 'function_call' || sawToolCall) return { stop_reason: 'tool_use', stop_sequence: null };
  if (stopString !== undefined && stopSequences.includes(stopString)) return { stop_reason: 'stop_sequence', stop_sequence: stopString };
  return { stop_reason: 'end_turn', stop_sequence: null };
}

/** Tool arguments as a tool_use `input`: a model's broken JSON travels as its text, so the caller's validator says why. */
export function toolInput(args: string): unknown {
  if (args.trim() === '') return {};
  try {
    return JSON.parse(args);
  } catch {
    return args;
  }
}

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export function usageOf(answer: Pick<Answer, 'usage'>, inputEstimate = 0): AnthropicUsage {
  const usage = answer.usage;
  // Anthropic counts cache reads apart from input_tokens; OpenAI counts them inside prompt_tokens.
  return {
    input_tokens: usage ? usage.inputTokens - usage.cachedTokens : inputEstimate,
    output_tokens: usage?.outputTokens ?? 0,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: usage?.cachedTokens ?? 0,
  };
}

export type AnthropicContentBlock =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown };

export interface AnthropicMessageOut {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: AnthropicContentBlock[];
  stop_reason: StopReason | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

/** A chat answer as the Messages `message` the caller expects. */
export function chatToMessage(answer: Answer, context: { id: string; model: string; stopSequences?: readonly string[] }): AnthropicMessageOut {
  const content: AnthropicContentBlock[] = [];
  if (answer.reasoning) content.push({ type: 'thinking', thinking: answer.reasoning, signature: '' });
  if (answer.text) content.push({ type: 'text', text: answer.text });
  for (const call of answer.toolCalls) content.push({ type: 'tool_use', id: call.id, name: call.name, input: toolInput(call.arguments) });
  return {
    id: context.id,
    type: 'message',
    role: 'assistant',
    model: context.model,
    content,
    ...stopReasonOf(answer.finishReason, answer.toolCalls.length > 0, answer.stopString, context.stopSequences ?? []),
    usage: usageOf(answer),
  };
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  503: 'overloaded_error',
  529: 'overloaded_error',
};

export function anthropicErrorType(status: number): string {
  return ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

export interface AnthropicError {
  type: 'error';
  error: { type: string; message: string };
}

export function anthropicError(status: number, message: string): AnthropicError {
  return { type: 'error', error: { type: anthropicErrorType(status), message } };
}

/**
 * An estimate of a request's input tokens for /v1/messages/count_tokens: about four characters a token over the
 * text the model reads (system, messages, tool definitions), an image at a flat 1 600 (Anthropic's ~1.15 MP cap).
 */
export function estimateInputTokens(request: CountTokensRequest): number {
  let chars = 0;
  let images = 0;
  const count = (value: unknown): void => {
    if (typeof value === 'string') chars += value.length;
    else if (Array.isArray(value)) value.forEach(count);
    else if (value && typeof value === 'object') {
      const block = value as Record<string, unknown>;
      if (block.type === 'image') images += 1;
      else for (const [key, inner] of Object.entries(block)) if (key !== 'cache_control' && key !== 'type') count(inner);
    }
  };
  count(request.system);
  for (const message of request.messages) count(message.content);
  count(request.tools);
  const perMessage = 4 * request.messages.length;
  return Math.max(1, Math.ceil(chars / 4) + perMessage + images * 1600);
}
