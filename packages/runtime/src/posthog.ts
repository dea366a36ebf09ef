import { type ConfigSchema, attachmentKeys } from '@plugline/sdk';

/** An attachment as PostHog plugins see it in `meta.attachments[key]`. */
export interface PluginAttachmentValue {
  content_type: string;
  file_name: string;
  contents: string;
}

/**
 * Config values of `x-attachment` fields (PostHog's `attachment` type) go to `meta.attachments[key]`
 * and leave `meta.config`, as on PostHog; attachments from `plugins.json` `attachments` are kept.
 */
export function splitAttachments(
  schema: ConfigSchema,
  config: Record<string, unknown>,
  attachments: Record<string, PluginAttachmentValue> = {},
): { config: Record<string, unknown>; attachments: Record<string, PluginAttachmentValue> } {
  const keys = attachmentKeys(schema);
  if (keys.length === 0) return { config, attachments };
  const rest = { ...config };
  const files = { ...attachments };
  for (const key of keys) {
    const value = rest[key];
    delete rest[key];
    if (value && typeof value === 'object') {
      const file = value as Partial<PluginAttachmentValue>;
      files[key] = { content_type: file.content_type ?? 'application/octet-stream', file_name: file.file_name ?? key, contents: String(file.contents ?? '') };
    }
  }
  return { config: rest, attachments: files };
}

/**
 * Runs `setupPlugin` until it succeeds, retrying a failure after each of `delaysMs` (PostHog retried
 * 5 times, 5 s to 80 s apart, before disabling the plugin). Answers the last failure, or null.
 */
export async function setupWithRetries<F>(
  setup: () => Promise<F | null>,
  delaysMs: readonly number[],
  onRetry: (failure: F, attempt: number, attempts: number) => void,
): Promise<F | null> {
  for (let attempt = 1; ; attempt++) {
    const failure = await setup();
    if (!failure) return null;
    const delay = delaysMs[attempt - 1];
    if (delay === undefined) return failure;
    onRetry(failure, attempt, delaysMs.length + 1);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** setupPlugin retry delays for PostHog-format plugins when the runtime is given none: 5 attempts in 15 s. */
export const defaultSetupRetryDelaysMs = [1000, 2000, 4000, 8000] as const;
