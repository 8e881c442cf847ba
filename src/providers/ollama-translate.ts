// OpenAI's chat, completions and embeddings bodies in Ollama's native terms (/api/chat, /api/generate, /api/embed),
// and Ollama's answers back in OpenAI's: tools and tool calls (Ollama's arguments are objects, OpenAI's JSON text),
// images (base64 `images`), `format` (JSON mode or a JSON schema), sampling `options`, thinking.
import type { Usage } from '../protocol/index.ts';
import { usageOf } from './usage-estimate.ts';
import {
  argumentsObject,
  BOOKKEEPING_FIELDS,
  type ChoiceOut,
  dataUrl,
  maxTokensOf,
  refuseUnknown,
  stopList,
  textOf,
  type ToolCallOut,
} from './openai-shapes.ts';
import { type OpenAiCall, UnsupportedField } from './types.ts';

const UPSTREAM = 'Ollama';

/** OpenAI sampling fields that are Ollama `options` under the same name. */
const SAME_NAME_OPTIONS = ['temperature', 'top_p', 'seed', 'presence_penalty', 'frequency_penalty', 'top_k', 'min_p', 'repeat_penalty', 'num_ctx'];

const CHAT_FIELDS = new Set([
  ...BOOKKEEPING_FIELDS,
  ...SAME_NAME_OPTIONS,
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'stop',
  'n',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'response_format',
  'reasoning_effort',
  'think',
  'chat_template_kwargs',
  'keep_alive',
  'options',
  'logprobs',
]);

const COMPLETION_FIELDS = new Set([...BOOKKEEPING_FIELDS, ...SAME_NAME_OPTIONS, 'prompt', 'suffix', 'max_tokens', 'stop', 'n', 'echo', 'best_of', 'keep_alive', 'options', 'logprobs']);

const EMBEDDING_FIELDS = new Set([...BOOKKEEPING_FIELDS, 'input', 'encoding_format', 'dimensions', 'truncate', 'keep_alive', 'options']);

export interface OllamaToolCall {
  function: { name: string; arguments: Record<string, unknown>; index?: number };
  id?: string;
}

export interface OllamaMessage {
  role: string;
  content: string;
  images?: string[];
  tool_calls?: OllamaToolCall[];
  tool_name?: string;
  thinking?: string;
}

/** One answer line of /api/chat or /api/generate (the last has `done: true` and the counts). */
export interface OllamaLine {
  message?: { content?: unknown; thinking?: unknown; tool_calls?: unknown };
  response?: unknown;
  thinking?: unknown;
  done?: unknown;
  done_reason?: unknown;
  prompt_eval_count?: unknown;
  eval_count?: unknown;
  error?: unknown;
}

function refuseIf(condition: boolean, param: string, why: string): void {
  if (condition) throw new UnsupportedField(param, `${param}: ${why}`);
}

/** The sampling options every endpoint shares; the caller's own `options` (Ollama's names) win. */
function optionsOf(body: Record<string, unknown>): Record<string, unknown> {
  refuseIf(typeof body.n === 'number' && body.n !== 1, 'n', 'Ollama answers one choice a call: send n: 1, or several calls');
  refuseIf(body.logprobs === true || typeof body.logprobs === 'number', 'logprobs', 'not supported by Ollama');
  const options: Record<string, unknown> = {};
  for (const name of SAME_NAME_OPTIONS) if (body[name] !== undefined && body[name] !== null) options[name] = body[name];
  const maxTokens = maxTokensOf(body);
  if (maxTokens !== undefined) options.num_predict = maxTokens;
  const stop = stopList(body);
  if (stop !== undefined) options.stop = stop;
  if (typeof body.options === 'object' && body.options !== null) Object.assign(options, body.options);
  return options;
}

/** `think`: Ollama's own field, `reasoning_effort` (gpt-oss takes its levels), or Qwen's `enable_thinking`. */
function thinkOf(body: Record<string, unknown>): unknown {
  if (body.think !== undefined) return body.think;
  const effort = body.reasoning_effort;
  if (effort === 'low' || effort === 'medium' || effort === 'high') return effort;
  if (effort === 'minimal' || effort === 'none') return false;
  refuseIf(effort !== undefined, 'reasoning_effort', 'expected low, medium, high, minimal or none');
  const kwargs = body.chat_template_kwargs;
  if (kwargs !== undefined) {
    const { enable_thinking: enable, ...rest } = kwargs as Record<string, unknown>;
    refuseIf(Object.keys(rest).length > 0, 'chat_template_kwargs', 'Ollama takes only enable_thinking of it (as think)');
    if (typeof enable === 'boolean') return enable;
  }
  return undefined;
}

function formatOf(responseFormat: unknown): unknown {
  if (responseFormat === undefined || responseFormat === null) return undefined;
  const { type, json_schema: jsonSchema } = responseFormat as { type?: unknown; json_schema?: { schema?: unknown } };
  if (type === 'text') return undefined;
  if (type === 'json_object') return 'json';
  if (type === 'json_schema' && typeof jsonSchema?.schema === 'object') return jsonSchema.schema;
  throw new UnsupportedField('response_format', 'response_format: expected text, json_object, or json_schema with a schema');
}

function toolsOf(body: Record<string, unknown>): unknown[] | undefined {
  const { tools, tool_choice: choice, parallel_tool_calls: parallel } = body;
  if (tools === undefined || tools === null) return undefined;
  refuseIf(!Array.isArray(tools), 'tools', 'expected an array');
  (tools as unknown[]).forEach((tool, i) => refuseIf((tool as { type?: unknown })?.type !== 'function', `tools[${i}]`, 'Ollama takes function tools only'));
  refuseIf(parallel === false, 'parallel_tool_calls', 'Ollama cannot be held to one tool call');
  if (choice === 'none') return undefined; // no tool may be called: the model is not shown any
  refuseIf(choice !== undefined && choice !== 'auto', 'tool_choice', 'Ollama lets the model choose (auto) or sees no tools (none); it cannot be made to call one');
  return tools as unknown[];
}

/** A user turn's content parts: text joined, images (data: URLs) as base64 `images`. */
function userContent(content: unknown, path: string): { content: string; images?: string[] } {
  if (!Array.isArray(content)) return { content: textOf(content, path) };
  let text = '';
  const images: string[] = [];
  content.forEach((part, i) => {
    const { type, text: partText, image_url: image } = (part ?? {}) as { type?: unknown; text?: unknown; image_url?: { url?: unknown } };
    if (type === 'text' && typeof partText === 'string') text += partText;
    else if (type === 'image_url' && typeof image?.url === 'string') {
      const inline = dataUrl(image.url);
      refuseIf(inline === undefined, `${path}[${i}].image_url.url`, 'Ollama takes images inline: send a data: URL (base64)');
      images.push(inline!.data);
    } else throw new UnsupportedField(`${path}[${i}]`, `${path}[${i}]: Ollama takes text and image_url parts only`);
  });
  return images.length > 0 ? { content: text, images } : { content: text };
}

/** OpenAI's messages in Ollama's shape; a tool result names its tool (`tool_name`), found by its call id. */
export function ollamaMessages(messages: unknown): OllamaMessage[] {
  refuseIf(!Array.isArray(messages), 'messages', 'expected an array');
  const toolNames = new Map<string, string>();
  return (messages as Record<string, unknown>[]).map((message, i): OllamaMessage => {
    const path = `messages[${i}]`;
    const role = message?.role === 'developer' ? 'system' : message?.role;
    refuseIf(typeof role !== 'string', `${path}.role`, 'expected a string');
    if (role === 'user') return { role, ...userContent(message.content, `${path}.content`) };
    const turn: OllamaMessage = { role: role as string, content: textOf(message.content, `${path}.content`) };
    if (role === 'assistant') {
      if (typeof message.reasoning_content === 'string') turn.thinking = message.reasoning_content;
      if (Array.isArray(message.tool_calls)) {
        turn.tool_calls = message.tool_calls.map((call: Record<string, unknown>, j: number) => {
          const fn = (call?.function ?? {}) as { name?: unknown; arguments?: unknown };
          refuseIf(typeof fn.name !== 'string', `${path}.tool_calls[${j}].function.name`, 'expected a string');
          if (typeof call.id === 'string') toolNames.set(call.id, fn.name as string);
          return { function: { name: fn.name as string, arguments: argumentsObject(fn.arguments, `${path}.tool_calls[${j}].function.arguments`) } };
        });
      }
    }
    if (role === 'tool' && typeof message.tool_call_id === 'string') {
      const name = toolNames.get(message.tool_call_id);
      if (name !== undefined) turn.tool_name = name;
    }
    return turn;
  });
}

/** An OpenAI chat body as an /api/chat body. */
export function ollamaChatBody(call: OpenAiCall, model: string): Record<string, unknown> {
  const { body } = call;
  refuseUnknown(body, CHAT_FIELDS, UPSTREAM);
  const native: Record<string, unknown> = { model, messages: ollamaMessages(body.messages), stream: call.streaming, options: optionsOf(body) };
  const tools = toolsOf(body);
  if (tools !== undefined) native.tools = tools;
  const format = formatOf(body.response_format);
  if (format !== undefined) native.format = format;
  const think = thinkOf(body);
  if (think !== undefined) native.think = think;
  if (body.keep_alive !== undefined) native.keep_alive = body.keep_alive;
  return native;
}

/** An OpenAI completions body (FIM with `suffix` too) as an /api/generate body. */
export function ollamaGenerateBody(call: OpenAiCall, model: string): Record<string, unknown> {
  const { body } = call;
  refuseUnknown(body, COMPLETION_FIELDS, UPSTREAM);
  refuseIf(body.echo === true, 'echo', 'not supported by Ollama');
  refuseIf(typeof body.best_of === 'number' && body.best_of !== 1, 'best_of', 'not supported by Ollama');
  let prompt = body.prompt;
  if (Array.isArray(prompt) && prompt.length === 1) prompt = prompt[0];
  refuseIf(typeof prompt !== 'string', 'prompt', 'Ollama completes one prompt a call: send a string');
  const native: Record<string, unknown> = { model, prompt, stream: call.streaming, options: optionsOf(body) };
  if (typeof body.suffix === 'string') native.suffix = body.suffix;
  if (body.keep_alive !== undefined) native.keep_alive = body.keep_alive;
  return native;
}

export function ollamaEmbedBody(call: OpenAiCall, model: string, inputs: string[]): Record<string, unknown> {
  const { body } = call;
  refuseUnknown(body, EMBEDDING_FIELDS, UPSTREAM);
  refuseIf(body.encoding_format !== undefined && body.encoding_format !== 'float' && body.encoding_format !== 'base64', 'encoding_format', 'expected float or base64');
  const native: Record<string, unknown> = { model, input: inputs };
  for (const name of ['dimensions', 'truncate', 'keep_alive', 'options']) if (body[name] !== undefined) native[name] = body[name];
  return native;
}

/** Ollama's tool calls in OpenAI's shape, with ids of our own (Ollama's calls have none, or ids we keep). */
export function toolCallsOf(calls: unknown, taskId: string, first: number): ToolCallOut[] {
  if (!Array.isArray(calls)) return [];
  return calls.map((call: OllamaToolCall, i) => ({
    id: typeof call?.id === 'string' && call.id !== '' ? call.id : `call_${taskId}_${first + i}`,
    name: String(call?.function?.name ?? ''),
    arguments: JSON.stringify(call?.function?.arguments ?? {}),
  }));
}

export function finishReasonOf(line: OllamaLine, sawToolCalls: boolean): string {
  if (sawToolCalls) return 'tool_calls';
  return line.done_reason === 'length' ? 'length' : 'stop';
}

export function usageOfLine(line: OllamaLine): Usage {
  const count = (value: unknown): number => (typeof value === 'number' ? value : 0);
  return usageOf(count(line.prompt_eval_count), count(line.eval_count));
}

/** One /api/chat answer as the choice of a chat.completion. */
export function chatChoice(line: OllamaLine, taskId: string): ChoiceOut {
  const toolCalls = toolCallsOf(line.message?.tool_calls, taskId, 0);
  const content = typeof line.message?.content === 'string' ? line.message.content : '';
  const choice: ChoiceOut = { content: toolCalls.length > 0 && content === '' ? null : content, finishReason: finishReasonOf(line, toolCalls.length > 0) };
  if (typeof line.message?.thinking === 'string' && line.message.thinking !== '') choice.reasoning = line.message.thinking;
  if (toolCalls.length > 0) choice.toolCalls = toolCalls;
  return choice;
}
