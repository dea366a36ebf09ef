// Events for the scale-out benchmarks: `total` pageviews over `people` persons, each person's
// events numbered by `seq` in order, so a consumer can check per-person order.
import { randomUUID } from 'node:crypto';

export function makeEvents(total, people) {
  const events = [];
  const perPerson = Math.ceil(total / people);
  for (let seq = 0; seq < perPerson && events.length < total; seq++) {
    for (let person = 0; person < people && events.length < total; person++) {
      events.push({
        uuid: randomUUID(),
        event: '$pageview',
        distinct_id: `person-${person}`,
        properties: { seq, $current_url: 'https://example.com/pricing', $browser: 'Firefox' },
        timestamp: new Date().toISOString(),
      });
    }
  }
  return events;
}
