// OpenAI Responses ⇄ chat.completions, both ways, pure: a Responses request (with the conversation of the response
// it continues, if any) becomes a chat body; a chat answer becomes a `response` object and its `output` items.
// The streamed answer is in responses-stream.ts.
import type {
  ChatCompletionAssistantMessageParam,
  ChatCompletionContentPart,
  ChatCompletionContentPartText,
  ChatCompletionMessageParam,
  ChatCompletionTool,
  ChatCompletionToolChoiceOption,
} from 'openai/resources/chat/completions';
import type { Answer, AnswerUsage } from './chat-answer.ts';
import type { ChatBody } from './chat-caller.ts';
import { systemFirst } from './chat-system-first.ts';
import type { ResponsesItem, ResponsesRequest, ResponsesTool } from './responses-request.ts';

export type Translated<T> = { ok: true; value: T } | { ok: false; message: string; param?: string };

class Refusal extends Error {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(`${param}: ${message}`);
  }
}

function refuse(param: string, message: string): never {
  throw new Refusal(param, message);
}

/** Request fields that need state or machinery on OpenAI's side: refused, never dropped. */
const REFUSED_FIELDS: Record<string, string> = {
  conversation: 'conversations live on OpenAI’s servers; send the items, or previous_response_id of a response this hub made',
  prompt: 'prompt templates live on OpenAI’s servers; send the instructions and input themselves',
};

function part(content: Record<string, unknown>, path: string): ChatCompletionContentPart {
  const type = content.type;
  if ((type === 'input_text' || type === 'output_text' || type === 'text') && typeof content.text === 'string') return { type: 'text', text: content.text };
  if (type === 'refusal' && typeof content.refusal === 'string') return { type: 'text', text: content.refusal };
  if (type === 'input_image') {
    if (typeof content.image_url !== 'string') refuse(path, 'only images given by image_url can be relayed (a file_id lives on OpenAI’s servers)');
    const detail = content.detail === 'low' || content.detail === 'high' || content.detail === 'auto' ? { detail: content.detail as 'low' | 'high' | 'auto' } : {};
    return { type: 'image_url', image_url: { url: content.image_url, ...detail } };
  }
  return refuse(path, `a ${String(type)} part cannot be relayed to a chat-completions model (input_text, input_image, output_text only)`);
}

function partsOf(content: unknown, path: string): ChatCompletionContentPart[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) refuse(path, 'expected a string or an array of content parts');
  return content.map((inner, i) => part(inner as Record<string, unknown>, `${path}[${i}]`));
}

function joined(parts: ChatCompletionContentPart[]): string | ChatCompletionContentPart[] {
  return parts.every((p) => p.type === 'text') ? (parts as ChatCompletionContentPartText[]).map((p) => p.text).join('') : parts;
}

/** Item types a caller replays from an earlier answer that a chat model cannot read back. */
const REPLAYED_ONLY = new Set(['reasoning']);

function chatMessages(items: readonly ResponsesItem[], naming: ToolNaming): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = [];
  items.forEach((item, i) => {
    const path = `input[${i}]`;
    const type = item.type ?? 'message';
    if (type === 'message') {
      const role = item.role;
      const parts = partsOf(item.content, `${path}.content`);
      if (role === 'user') out.push({ role: 'user', content: joined(parts) });
      else if (role === 'system' || role === 'developer') out.push({ role: 'system', content: textOnly(parts, `${path}.content`) });
      else if (role === 'assistant') out.push({ role: 'assistant', content: textOnly(parts, `${path}.content`) });
      else refuse(`${path}.role`, 'expected user, assistant, system or developer');
    } else if (type === 'function_call') {
      if (typeof item.call_id !== 'string' || typeof item.name !== 'string' || typeof item.arguments !== 'string') refuse(path, 'a function_call needs call_id, name and arguments (strings)');
      const name = naming.toChat(item.name as string, typeof item.namespace === 'string' ? item.namespace : undefined);
      const call = { id: item.call_id as string, type: 'function' as const, function: { name, arguments: item.arguments as string } };
      // The calls of one turn, and the text said before them, are one assistant message in chat completions.
      const previous = out.at(-1);
      if (previous?.role === 'assistant') (previous as ChatCompletionAssistantMessageParam).tool_calls = [...((previous as ChatCompletionAssistantMessageParam).tool_calls ?? []), call];
      else out.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (type === 'function_call_output') {
      if (typeof item.call_id !== 'string') refuse(`${path}.call_id`, 'expected a string');
      const parts = partsOf(item.output, `${path}.output`);
      const texts = parts.filter((p): p is ChatCompletionContentPartText => p.type === 'text').map((p) => p.text);
      out.push({ role: 'tool', tool_call_id: item.call_id as string, content: texts.join('') });
      // A tool message carries text only: the images a tool returned follow as the user's.
      const images = parts.filter((p) => p.type !== 'text');
      if (images.length) out.push({ role: 'user', content: images });
    } else if (type === 'item_reference') {
      refuse(path, 'item references need OpenAI’s stored items; send the item itself, or previous_response_id of a response this hub made');
    } else if (!REPLAYED_ONLY.has(type)) {
      refuse(path, `a ${type} item cannot be relayed to a chat-completions model (message, function_call, function_call_output only)`);
    }
  });
  return out;
}

function textOnly(parts: ChatCompletionContentPart[], path: string): string {
  const joinedText = joined(parts);
  if (typeof joinedText !== 'string') refuse(path, 'only user messages may carry images in chat completions');
  return joinedText;
}

/** How a function of a namespace tool is named to a chat model, which knows no namespaces: `namespace__name`. */
const NAMESPACE_SEPARATOR = '__';

export interface ToolNaming {
  toChat(name: string, namespace?: string): string;
  fromChat(chatName: string): { name: string; namespace?: string };
}

export function toolNaming(tools: ResponsesRequest['tools']): ToolNaming {
  const namespaces = (tools ?? []).filter((tool) => tool.type === 'namespace' && typeof tool.name === 'string').map((tool) => tool.name as string);
  return {
    toChat: (name, namespace) => (namespace ? `${namespace}${NAMESPACE_SEPARATOR}${name}` : name),
    fromChat(chatName) {
      const namespace = namespaces.find((ns) => chatName.startsWith(`${ns}${NAMESPACE_SEPARATOR}`));
      return namespace ? { name: chatName.slice(namespace.length + NAMESPACE_SEPARATOR.length), namespace } : { name: chatName };
    },
  };
}

function functionTool(tool: ResponsesTool, path: string, chatName: (name: string) => string): ChatCompletionTool {
  if (typeof tool.name !== 'string' || tool.name === '') refuse(`${path}.name`, 'expected a non-empty string');
  return {
    type: 'function',
    function: {
      name: chatName(tool.name as string),
      ...(typeof tool.description === 'string' ? { description: tool.description } : {}),
      ...(tool.parameters && typeof tool.parameters === 'object' ? { parameters: tool.parameters as Record<string, unknown> } : {}),
      ...(typeof tool.strict === 'boolean' ? { strict: tool.strict } : {}),
    },
  };
}

function chatTools(tools: ResponsesRequest['tools'], naming: ToolNaming): ChatCompletionTool[] | undefined {
  return tools?.flatMap((tool, i) => {
    if (tool.type === 'function') return [functionTool(tool, `tools[${i}]`, (name) => name)];
    if (tool.type === 'namespace' && typeof tool.name === 'string' && Array.isArray(tool.tools)) {
      const namespace = tool.name;
      return (tool.tools as ResponsesTool[]).map((inner, j) => {
        if (inner.type !== 'function') refuse(`tools[${i}].tools[${j}]`, `a '${inner.type}' tool cannot be relayed to a chat model, only function tools`);
        return functionTool(inner, `tools[${i}].tools[${j}]`, (name) => naming.toChat(name, namespace));
      });
    }
    return refuse(`tools[${i}]`, `a '${tool.type}' tool runs on OpenAI’s servers; only function tools (alone or in a namespace) can be relayed to a chat model`);
  });
}

function chatToolChoice(choice: ResponsesRequest['tool_choice']): ChatCompletionToolChoiceOption | undefined {
  if (choice === undefined || typeof choice === 'string') return choice;
  if (choice.type === 'function' && typeof choice.name === 'string') return { type: 'function', function: { name: choice.name } };
  return refuse('tool_choice', `a '${choice.type}' tool choice cannot be relayed (none, auto, required or a function only)`);
}

const EFFORTS: Record<string, 'low' | 'medium' | 'high'> = { minimal: 'low', low: 'low', medium: 'medium', high: 'high', xhigh: 'high', max: 'high' };

function responseFormat(format: NonNullable<ResponsesRequest['text']>['format']): ChatBody['response_format'] | undefined {
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  return {
    type: 'json_schema',
    json_schema: {
      name: format.name,
      schema: format.schema,
      ...(format.description !== undefined ? { description: format.description } : {}),
      ...(typeof format.strict === 'boolean' ? { strict: format.strict } : {}),
    },
  };
}

export interface ChatRequest {
  body: ChatBody;
  /** The conversation without the instructions (they do not carry over to a continuation), kept if stored. */
  conversation: ChatCompletionMessageParam[];
}

/** A Responses request, after the conversation of the response it continues, as a chat body. */
export function responsesToChat(request: ResponsesRequest, previous: readonly ChatCompletionMessageParam[] = []): Translated<ChatRequest> {
  try {
    for (const [field, why] of Object.entries(REFUSED_FIELDS)) {
      if (request[field] !== undefined && request[field] !== null) refuse(field, why);
    }
    if (request.background === true) refuse('background', 'the hub answers while the caller waits; call without background, or stream');
    const items: ResponsesItem[] = typeof request.input === 'string' ? [{ role: 'user', content: request.input }] : request.input;
    const naming = toolNaming(request.tools);
    const conversation = [...previous, ...chatMessages(items, naming)];
    const tools = chatTools(request.tools, naming);
    const toolChoice = tools?.length ? chatToolChoice(request.tool_choice) : undefined;
    const effort = request.reasoning?.effort ? EFFORTS[request.reasoning.effort] : undefined;
    const format = responseFormat(request.text?.format);
    const user = request.safety_identifier ?? request.user;
    const body = {
      model: request.model,
      messages: systemFirst(request.instructions ? [{ role: 'system', content: request.instructions }, ...conversation] : conversation),
      ...(request.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
      ...(request.max_output_tokens != null ? { max_tokens: request.max_output_tokens } : {}),
      ...(request.temperature != null ? { temperature: request.temperature } : {}),
      ...(request.top_p != null ? { top_p: request.top_p } : {}),
      ...(tools?.length ? { tools } : {}),
      ...(toolChoice !== undefined ? { tool_choice: toolChoice } : {}),
      ...(tools?.length && request.parallel_tool_calls != null ? { parallel_tool_calls: request.parallel_tool_calls } : {}),
      ...(effort ? { reasoning_effort: effort } : {}),
      ...(format ? { response_format: format } : {}),
      ...(typeof user === 'string' ? { user } : {}),
    } as ChatBody;
    return { ok: true, value: { body, conversation } };
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, message: error.message, param: error.param };
    throw error;
  }
}

export interface OutputText {
  type: 'output_text';
  text: string;
  annotations: never[];
  logprobs: never[];
}
export type OutputItem =
  | { type: 'message'; id: string; status: 'in_progress' | 'completed'; role: 'assistant'; content: OutputText[] }
  | { type: 'function_call'; id: string; call_id: string; name: string; namespace?: string; arguments: string; status: 'in_progress' | 'completed' }
  | { type: 'reasoning'; id: string; summary: never[]; content: Array<{ type: 'reasoning_text'; text: string }>; status?: 'in_progress' | 'completed' };

export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export function usageOf(usage: AnswerUsage): ResponsesUsage {
  return {
    input_tokens: usage.inputTokens,
    input_tokens_details: { cached_tokens: usage.cachedTokens },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens },
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

export function statusOf(finishReason: string | null | undefined): { status: ResponseStatus; incomplete_details: { reason: string } | null } {
  if (finishReason === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (finishReason === 'content_filter') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

/** What a `response` object repeats of the request that made it. */
export function echoOf(request: ResponsesRequest): Record<string, unknown> {
  return {
    model: request.model,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    reasoning: request.reasoning ?? { effort: null, summary: null },
    store: request.store === true,
    temperature: request.temperature ?? null,
    text: request.text ?? { format: { type: 'text' } },
    tool_choice: request.tool_choice ?? 'auto',
    tools: request.tools ?? [],
    top_p: request.top_p ?? null,
    truncation: 'disabled',
    user: request.user ?? null,
    metadata: request.metadata ?? {},
  };
}

export interface ResponseObject extends Record<string, unknown> {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  output: OutputItem[];
}

export function responseObject(args: {
  id: string;
  createdAt: number;
  echo: Record<string, unknown>;
  status: ResponseStatus;
  incompleteDetails?: { reason: string } | null;
  output: OutputItem[];
  usage?: AnswerUsage;
  error?: { code: string; message: string };
}): ResponseObject {
  return {
    id: args.id,
    object: 'response',
    created_at: args.createdAt,
    status: args.status,
    error: args.error ?? null,
    incomplete_details: args.incompleteDetails ?? null,
    ...args.echo,
    output: args.output,
    ...(args.usage ? { usage: usageOf(args.usage) } : {}),
  };
}

export interface ItemIds {
  message(): string;
  call(): string;
  reasoning(): string;
}

export function outputItems(answer: Answer, ids: ItemIds, naming: ToolNaming): OutputItem[] {
  const items: OutputItem[] = [];
  if (answer.reasoning) items.push({ type: 'reasoning', id: ids.reasoning(), summary: [], content: [{ type: 'reasoning_text', text: answer.reasoning }] });
  if (answer.text) items.push({ type: 'message', id: ids.message(), status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: answer.text, annotations: [], logprobs: [] }] });
  for (const call of answer.toolCalls) items.push({ type: 'function_call', id: ids.call(), call_id: call.id, ...naming.fromChat(call.name), arguments: call.arguments, status: 'completed' });
  return items;
}

/** The answer as the assistant turn a continuation (previous_response_id) replays to the model. */
export function assistantTurn(answer: Answer): ChatCompletionMessageParam {
  if (!answer.toolCalls.length) return { role: 'assistant', content: answer.text };
  return {
    role: 'assistant',
    content: answer.text || null,
    tool_calls: answer.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })),
  };
}

export function responsesError(status: number, message: string, param?: string | null, code?: string | null): { error: { message: string; type: string; param: string | null; code: string | null } } {
  const type = status === 401 ? 'authentication_error' : status === 404 ? 'not_found_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message, type, param: param ?? null, code: code ?? null } };
}
