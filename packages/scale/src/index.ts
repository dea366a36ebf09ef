/**
 * @plugline/scale: the building blocks for running Plugline on several machines.
 * - {@link createNatsEventQueue}: a NATS JetStream event queue, partitioned by `distinct_id`.
 * - {@link createRedisStorage} / {@link createRedisCache}: plugin state shared by every worker.
 */
export {
  type ConsumeOptions,
  type ConsumerHandle,
  createNatsEventQueue,
  type DeadLetter,
  deadLetterHeaders,
  type EventBatchHandler,
  type EventQueue,
  type NatsEventQueueOptions,
} from './nats-queue.js';
export { fnv1a32, partitionOf } from './partition.js';
export {
  createRedisCache,
  createRedisClient,
  createRedisStorage,
  type PluginListCache,
  type RedisPluginStorage,
  type RedisStateOptions,
} from './redis-state.js';
