import type {
  JsonSchemaType,
  JsonSchemaValidator,
  jsonSchemaValidator,
} from '@modelcontextprotocol/sdk/validation';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';

const MAX_SCHEMAS = 1_000;

/**
 * One JSON-schema validator for every SDK Server and Client of the process
 * (issue 13). The SDK builds a new Ajv instance, with its formats, for each
 * Server and Client it constructs unless it is handed one: that was a fifth of
 * the gateway's CPU. Here one Ajv instance compiles each distinct schema once
 * (keyed by its JSON, bounded); a compiled schema is dropped from Ajv's own
 * cache, which holds schemas by object identity and would otherwise keep every
 * listing's copy forever.
 */
class SharedValidator implements jsonSchemaValidator {
  private readonly inner = new AjvJsonSchemaValidator();
  private readonly compiled = new Map<string, JsonSchemaValidator<unknown>>();

  getValidator<T>(schema: JsonSchemaType): JsonSchemaValidator<T> {
    const key = JSON.stringify(schema);
    let validator = this.compiled.get(key);
    if (validator) {
      // Least recently used goes first.
      this.compiled.delete(key);
    } else {
      validator = this.inner.getValidator<unknown>(schema);
      (this.inner as unknown as { _ajv: { removeSchema(s: object): void } })._ajv.removeSchema(schema);
      if (this.compiled.size >= MAX_SCHEMAS) {
        const oldest = this.compiled.keys().next().value;
        if (oldest !== undefined) this.compiled.delete(oldest);
      }
    }
    this.compiled.set(key, validator);
    return validator as JsonSchemaValidator<T>;
  }
}

export const sharedValidator: jsonSchemaValidator = new SharedValidator();
