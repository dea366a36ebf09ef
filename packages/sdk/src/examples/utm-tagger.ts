import { definePlugin } from '../plugin.js';

/**
 * The SDK's sample plugin: tags events with a campaign from their URL, drops events from blocked
 * distinct ids, and throws on events whose URL cannot be parsed (to show fail-open chains).
 */
export default definePlugin({
  config: {
    type: 'object',
    properties: {
      campaignProperty: { type: 'string', default: 'campaign', description: 'Property that receives the utm_campaign' },
      blockedIds: { type: 'array', items: { type: 'string' }, default: [] },
      apiKey: { type: 'string', writeOnly: true },
    },
  },
  processEvent(event, { config }) {
    if (config.blockedIds.includes(event.distinct_id)) return null;
    const url = event.properties.$current_url;
    if (typeof url !== 'string') return event;
    const campaign = new URL(url).searchParams.get('utm_campaign');
    if (campaign) event.properties[config.campaignProperty] = campaign;
    return event;
  },
});
