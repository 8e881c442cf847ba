// OpenAI's chat body in the Messages API's terms and its answers back in OpenAI's: system prompt apart, tools with
// `input_schema`, tool calls as `tool_use` blocks and tool results as `tool_result` blocks, images as `image` blocks,
// `stop` as `stop_sequences`, tool_choice and parallel_tool_calls as Anthropic's tool_choice.
import { argumentsObject, BOOKKEEPING_FIELDS, type ChoiceOut, dataUrl, maxTokensOf, refuseUnknown, stopList, textOf } from './openai-shapes.ts';
import { type OpenAiCall, UnsupportedField } from './types.ts';

/** The Messages API requires max_tokens; this is what a request without one gets. */
export const DEFAULT_MAX_TOKENS = 1024;

const CHAT_FIELDS = new Set([
  ...BOOKKEEPING_FIELDS,
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'top_k',
  'stop',
  'n',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
]);

type Block = Record<string, unknown>;
interface Turn {
  role: 'user' | 'assistant';
  content: Block[];
}

/** Anthropic's stop reasons in OpenAI's words. */
export const FINISH_REASONS = new Map([
  ['end_turn', 'stop'],
  ['stop_sequence', 'stop'],
  ['max_tokens', 'length'],
  ['tool_use', 'tool_calls'],
  ['refusal', 'content_filter'],
]);

function refuseIf(condition: boolean, param: string, why: string): void {
  if (condition) throw new UnsupportedField(param, `${param}: ${why}`);
}

function userBlocks(content: unknown, path: string): Block[] {
  if (!Array.isArray(content)) return [{ type: 'text', text: textOf(content, path) }];
  return content.map((part, i): Block => {
    const { type, text, image_url: image } = (part ?? {}) as { type?: unknown; text?: unknown; image_url?: { url?: unknown } };
    if (type === 'text' && typeof text === 'string') return { type: 'text', text };
    if (type === 'image_url' && typeof image?.url === 'string') {
      const inline = dataUrl(image.url);
      return { type: 'image', source: inline ? { type: 'base64', media_type: inline.mediaType, data: inline.data } : { type: 'url', url: image.url } };
    }
    throw new UnsupportedField(`${path}[${i}]`, `${path}[${i}]: Anthropic takes text and image_url parts only`);
  });
}

/**
 * OpenAI's messages as the Messages API takes them: system and developer turns joined into `system`, tool results as
 * `tool_result` blocks of a user turn, neighbouring turns of one role joined.
 */
export function anthropicMessages(messages: unknown): { system: string | undefined; messages: Turn[] } {
  refuseIf(!Array.isArray(messages), 'messages', 'expected an array');
  const system: string[] = [];
  const turns: Turn[] = [];
  const push = (role: Turn['role'], blocks: Block[]): void => {
    const previous = turns[turns.length - 1];
    if (previous?.role === role) previous.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };
  (messages as Record<string, unknown>[]).forEach((message, i) => {
    const path = `messages[${i}]`;
    switch (message?.role) {
      case 'system':
      case 'developer':
        system.push(textOf(message.content, `${path}.content`));
        return;
      case 'user':
        return push('user', userBlocks(message.content, `${path}.content`));
      case 'tool':
        refuseIf(typeof message.tool_call_id !== 'string', `${path}.tool_call_id`, 'a tool result must name its tool call');
        return push('user', [{ type: 'tool_result', tool_use_id: message.tool_call_id, content: textOf(message.content, `${path}.content`) }]);
      case 'assistant': {
        const blocks: Block[] = [];
        const text = textOf(message.content, `${path}.content`);
        if (text !== '') blocks.push({ type: 'text', text });
        if (Array.isArray(message.tool_calls)) {
          message.tool_calls.forEach((call: Record<string, unknown>, j: number) => {
            const fn = (call?.function ?? {}) as { name?: unknown; arguments?: unknown };
            refuseIf(typeof call?.id !== 'string' || typeof fn.name !== 'string', `${path}.tool_calls[${j}]`, 'a tool call needs an id and a function name');
            blocks.push({ type: 'tool_use', id: call.id, name: fn.name, input: argumentsObject(fn.arguments, `${path}.tool_calls[${j}].function.arguments`) });
          });
        }
        return push('assistant', blocks.length > 0 ? blocks : [{ type: 'text', text: '' }]);
      }
      default:
        throw new UnsupportedField(`${path}.role`, `${path}.role: expected system, developer, user, assistant or tool`);
    }
  });
  return { system: system.length === 0 ? undefined : system.join('\n\n'), messages: turns };
}

function toolChoiceOf(choice: unknown, parallel: unknown): Record<string, unknown> | undefined {
  const noParallel = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined || choice === 'auto') return parallel === false ? { type: 'auto', ...noParallel } : undefined;
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any', ...noParallel };
  const name = (choice as { function?: { name?: unknown } })?.function?.name;
  refuseIf(typeof name !== 'string', 'tool_choice', 'expected auto, none, required or { type: "function", function: { name } }');
  return { type: 'tool', name, ...noParallel };
}

/** An OpenAI chat body as a Messages API body. */
export function anthropicBody(call: OpenAiCall, model: string): Record<string, unknown> {
  const { body } = call;
  refuseUnknown(body, CHAT_FIELDS, 'Anthropic');
  refuseIf(typeof body.n === 'number' && body.n !== 1, 'n', 'Anthropic answers one choice a call: send n: 1, or several calls');
  const { system, messages } = anthropicMessages(body.messages);
  const native: Record<string, unknown> = { model, max_tokens: maxTokensOf(body) ?? DEFAULT_MAX_TOKENS, messages, stream: call.streaming };
  if (system !== undefined) native.system = system;
  for (const name of ['temperature', 'top_p', 'top_k']) if (typeof body[name] === 'number') native[name] = body[name];
  const stop = stopList(body);
  if (stop !== undefined) native.stop_sequences = stop;
  if (typeof body.user === 'string') native.metadata = { user_id: body.user };
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    native.tools = body.tools.map((tool: Record<string, unknown>, i: number) => {
      const fn = (tool?.function ?? {}) as { name?: unknown; description?: unknown; parameters?: unknown };
      refuseIf(tool?.type !== 'function' || typeof fn.name !== 'string', `tools[${i}]`, 'Anthropic takes function tools with a name');
      return { name: fn.name, ...(typeof fn.description === 'string' ? { description: fn.description } : {}), input_schema: fn.parameters ?? { type: 'object', properties: {} } };
    });
    const choice = toolChoiceOf(body.tool_choice, body.parallel_tool_calls);
    if (choice !== undefined) native.tool_choice = choice;
  } else {
    refuseIf(body.tool_choice !== undefined && body.tool_choice !== 'none' && body.tool_choice !== 'auto', 'tool_choice', 'names a tool but the request has no tools');
  }
  return native;
}

export function finishReasonOf(stopReason: unknown): string | null {
  if (typeof stopReason !== 'string') return null;
  return FINISH_REASONS.get(stopReason) ?? stopReason;
}

/** A Messages answer's content blocks as one OpenAI choice. */
export function anthropicChoice(content: unknown, stopReason: unknown): ChoiceOut {
  let text = '';
  let reasoning = '';
  const toolCalls: ChoiceOut['toolCalls'] = [];
  for (const block of Array.isArray(content) ? content : []) {
    if (block?.type === 'text' && typeof block.text === 'string') text += block.text;
    else if (block?.type === 'thinking' && typeof block.thinking === 'string') reasoning += block.thinking;
    else if (block?.type === 'tool_use') toolCalls.push({ id: String(block.id), name: String(block.name), arguments: JSON.stringify(block.input ?? {}) });
  }
  const choice: ChoiceOut = { content: toolCalls.length > 0 && text === '' ? null : text, finishReason: finishReasonOf(stopReason) };
  if (reasoning !== '') choice.reasoning = reasoning;
  if (toolCalls.length > 0) choice.toolCalls = toolCalls;
  return choice;
}
