import { definePlugin } from '@plugline/sdk';
import { configErrorDetails } from '@plugline/sdk/browser';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS with a `default` property; under NodeNext the default import is the module object.
type AddFormats = (ajv: Ajv2020) => Ajv2020;
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats);

/** Turns ajv errors into `properties.path: message` strings (the SDK's located config errors, rooted at `properties`). */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined): string[] {
  return configErrorDetails(errors, 'properties').map((error) => `${error.path}: ${error.message}`);
}

/**
 * Compiles one validator per event name, or throws an error naming the event whose schema is invalid.
 * Done once in `setupPlugin`.
 */
export function compileSchemas(schemas: Record<string, unknown>): Map<string, ValidateFunction> {
  // logger: false — ajv would otherwise console.warn about unknown keywords; plugins log through meta.
  const ajv = new Ajv2020({ allErrors: true, strict: false, logger: false });
  addFormats(ajv);
  const validators = new Map<string, ValidateFunction>();
  for (const [eventName, schema] of Object.entries(schemas)) {
    try {
      validators.set(eventName, ajv.compile(schema as object));
    } catch (error) {
      throw new Error(`schemas[${JSON.stringify(eventName)}]: not a valid JSON Schema (${(error as Error).message})`);
    }
  }
  return validators;
}

/**
 * Validates each event's properties against the JSON Schema configured for its event name (ajv,
 * draft 2020-12, with formats such as `email` and `date-time`). Invalid events are dropped or tagged
 * with their errors, by config; events without a schema are allowed, dropped or tagged, by config.
 */
export default definePlugin({
  config: {
    type: 'object',
    properties: {
      schemas: {
        type: 'object',
        additionalProperties: { type: 'object' },
        default: {},
        description: 'A JSON Schema (draft 2020-12) of event.properties per event name, e.g. { "signed_up": { "type": "object", "required": ["plan"] } }.',
      },
      onInvalid: {
        enum: ['drop', 'tag'],
        default: 'drop',
        description: 'What to do with an event whose properties do not match its schema: drop it, or keep it and tag it with the errors.',
      },
      onUnknownEvent: {
        enum: ['allow', 'drop', 'tag'],
        default: 'allow',
        description: 'What to do with an event whose name has no schema: let it through, drop it, or tag it.',
      },
      tagProperty: {
        type: 'string',
        minLength: 1,
        default: '$schema_errors',
        description: 'The property that receives the list of errors when events are tagged.',
      },
    },
  },
  setupPlugin(meta) {
    meta.global.validators = compileSchemas(meta.config.schemas);
  },
  processEvent(event, { config, global, logger, metrics }) {
    const validators = (global.validators as Map<string, ValidateFunction> | undefined) ?? compileSchemas(config.schemas);
    const validate = validators.get(event.event);
    let errors: string[];
    let action: 'drop' | 'tag';
    if (!validate) {
      if (config.onUnknownEvent === 'allow') return event;
      errors = [`no schema for event "${event.event}"`];
      action = config.onUnknownEvent;
    } else {
      if (validate(event.properties)) return event;
      errors = describeErrors(validate.errors);
      action = config.onInvalid;
    }
    metrics.increment(action === 'drop' ? 'events_dropped' : 'events_tagged');
    if (action === 'drop') {
      logger.info('dropped an invalid event', { uuid: event.uuid, event: event.event, errors });
      return null;
    }
    event.properties[config.tagProperty] = errors;
    return event;
  },
});
