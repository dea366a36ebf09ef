import { definePlugin } from '@plugline/sdk';

/**
 * The example from the docs: adds `hello: "world"` to every event's properties. It has no config and
 * never drops an event, which makes it a handy canary in a chain.
 */
export default definePlugin({
  config: { type: 'object', properties: {} },
  processEvent(event) {
    event.properties.hello = 'world';
    return event;
  },
});
