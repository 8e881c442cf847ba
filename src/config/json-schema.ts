// The config file's JSON Schema, generated from the valibot schema: `llm-registrar schema` prints it for editors.
import { toJsonSchema } from '@valibot/to-json-schema';
import { Config } from './schema.ts';

export function configJsonSchema(): object {
  // Checks that JSON Schema cannot express (baseUrl required unless demo, unique wire names) are left to the loader.
  const schema = toJsonSchema(Config, { errorMode: 'ignore' }) as Record<string, unknown>;
  forbidUnknownKeys(schema);
  const properties = schema.properties as Record<string, unknown>;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'llm-registrar config',
    ...schema,
    // A config file may name its schema, as editors expect: the loader accepts this one extra key.
    properties: { $schema: { type: 'string' }, ...properties },
  };
}

/** The loader refuses keys the schema does not name (a typo would otherwise be ignored): say the same to editors. */
function forbidUnknownKeys(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(forbidUnknownKeys);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const record = node as Record<string, unknown>;
  if (record.type === 'object' && typeof record.properties === 'object' && record.additionalProperties === undefined) {
    record.additionalProperties = false;
  }
  Object.values(record).forEach(forbidUnknownKeys);
}
