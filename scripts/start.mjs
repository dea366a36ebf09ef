// Interim main job until the registry and runtime land: run the SDK's sample plugin over two events.
import { createEvent, runChain } from '@plugline/sdk/testing';
import utmTagger from '../packages/sdk/dist/examples/utm-tagger.js';

const { events, dropped } = await runChain(
  [{ plugin: utmTagger, name: 'utm-tagger', version: '0.1.0', config: { blockedIds: ['bot'] } }],
  [
    createEvent({ distinct_id: 'user-1', properties: { $current_url: 'https://example.com/?utm_campaign=launch' } }),
    createEvent({ distinct_id: 'bot' }),
  ],
);
process.stdout.write(`${JSON.stringify({ events, dropped: dropped.length }, null, 2)}\n`);
