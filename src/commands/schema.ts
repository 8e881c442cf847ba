// `llm-registrar schema`: the config file's JSON Schema, for editors.
import { configJsonSchema } from '../config/json-schema.ts';

export async function schemaCommand(): Promise<number> {
  process.stdout.write(JSON.stringify(configJsonSchema(), null, 2) + '\n');
  return 0;
}
