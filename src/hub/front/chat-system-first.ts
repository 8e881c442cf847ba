// Chat templates of local models (Qwen, Llama, Mistral…) accept one system message, first: the system turns Claude
// Code and Codex send mid-conversation are folded into the user's turn they follow, which the model reads next.
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';

function plainText(message: ChatCompletionMessageParam): string | undefined {
  if (typeof message.content === 'string') return message.content;
  return undefined;
}

export function systemFirst(messages: readonly ChatCompletionMessageParam[]): ChatCompletionMessageParam[] {
  const leading: string[] = [];
  let i = 0;
  for (; i < messages.length && messages[i]!.role === 'system'; i++) leading.push(plainText(messages[i]!) ?? '');
  const out: ChatCompletionMessageParam[] = leading.length ? [{ role: 'system', content: leading.join('\n\n') }] : [];
  for (const message of messages.slice(i)) {
    if (message.role !== 'system') {
      out.push(message);
      continue;
    }
    const text = plainText(message) ?? '';
    const previous = out.at(-1);
    if (previous?.role === 'user' && typeof previous.content === 'string') out[out.length - 1] = { role: 'user', content: `${previous.content}\n\n${text}` };
    else if (previous?.role === 'user' && Array.isArray(previous.content)) out[out.length - 1] = { role: 'user', content: [...previous.content, { type: 'text', text }] };
    else out.push({ role: 'user', content: text });
  }
  return out;
}
