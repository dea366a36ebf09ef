/**
 * The `pg` API PostHog plugins call (`new Client(config)` / `new Pool(config)`, `connect()`,
 * `query(text, values?)` or `query({ text, values })`, `release()`, `end()`), over the runtime's
 * `postgres` host service: the host holds the pooled connections, the plugin never has a socket. Only
 * with the `postgres` capability granted; otherwise `connect`/`query` reject naming it. Results are
 * `{ rows, rowCount }` with JSON values (dates as ISO strings, bigints as strings), not pg's full
 * Result (no `fields`, no type parsers). The connection string is built from `connectionString` or
 * `host`/`port`/`user`/`password`/`database`.
 */
import { isolateInternal } from '../internal.js';

interface ClientConfig {
  connectionString?: string;
  host?: string;
  port?: number | string;
  user?: string;
  password?: string;
  database?: string;
  ssl?: unknown;
}
type QueryConfig = { text: string; values?: unknown[] };
interface QueryResult {
  rows: Record<string, unknown>[];
  rowCount: number;
}

function connectionStringOf(config: ClientConfig | string | undefined): string {
  if (typeof config === 'string') return config;
  if (config?.connectionString) return config.connectionString;
  const user = config?.user ? `${encodeURIComponent(config.user)}${config.password ? `:${encodeURIComponent(config.password)}` : ''}@` : '';
  const host = config?.host ?? '127.0.0.1';
  const port = config?.port ? `:${config.port}` : '';
  const database = config?.database ? `/${encodeURIComponent(config.database)}` : '';
  return `postgres://${user}${host}${port}${database}`;
}

function service() {
  const query = isolateInternal().postgresQuery;
  if (!query) {
    throw Object.assign(new Error("pg is not available: the runtime has not granted this plugin the 'postgres' capability"), { code: 'ERR_CAPABILITY_MISSING' });
  }
  return query;
}

async function runQuery(connectionString: string, textOrConfig: string | QueryConfig, values?: unknown[]): Promise<QueryResult> {
  const text = typeof textOrConfig === 'string' ? textOrConfig : textOrConfig.text;
  const params = typeof textOrConfig === 'string' ? values : (textOrConfig.values ?? values);
  return (await service()(connectionString, text, params ?? [])) as QueryResult;
}

type Callback = (error: Error | null, result?: QueryResult) => void;

/** Calls back (when given) and returns the promise, as pg does. */
function settle<T>(promise: Promise<T>, callback?: (error: Error | null, result?: T) => void): Promise<T> | undefined {
  if (!callback) return promise;
  promise.then(
    (result) => callback(null, result),
    (error: Error) => callback(error),
  );
  return undefined;
}

export class Client {
  readonly connectionString: string;
  #ended = false;
  constructor(config?: ClientConfig | string) {
    this.connectionString = connectionStringOf(config);
  }
  /** Checks that the service is there (no socket opens in the isolate). */
  connect(callback?: (error: Error | null) => void): Promise<void> | undefined {
    return settle(
      (async () => {
        service();
      })(),
      callback,
    );
  }
  query(textOrConfig: string | QueryConfig, valuesOrCallback?: unknown[] | Callback, maybeCallback?: Callback): Promise<QueryResult> | undefined {
    return queryOrRefuse(this.#ended && 'Client was closed and is not queryable', this.connectionString, textOrConfig, valuesOrCallback, maybeCallback);
  }
  end(callback?: (error: Error | null) => void): Promise<void> | undefined {
    this.#ended = true;
    return settle(Promise.resolve(), callback);
  }
  on(): this {
    return this;
  }
}

/** pg's `query(text, values?, callback?)` for Client and Pool: refused with `closed` once ended, else run by the host. */
function queryOrRefuse(
  closed: string | false,
  connectionString: string,
  textOrConfig: string | QueryConfig,
  valuesOrCallback?: unknown[] | Callback,
  maybeCallback?: Callback,
): Promise<QueryResult> | undefined {
  const callback = typeof valuesOrCallback === 'function' ? valuesOrCallback : maybeCallback;
  const values = typeof valuesOrCallback === 'function' ? undefined : valuesOrCallback;
  const promise = closed ? Promise.reject(new Error(closed)) : runQuery(connectionString, textOrConfig, values);
  return settle(promise, callback);
}

/** pg's Pool: `query` directly, or `connect()` for a client whose `release()` gives it back. */
export class Pool {
  readonly connectionString: string;
  #ended = false;
  constructor(config?: ClientConfig | string) {
    this.connectionString = connectionStringOf(config);
  }
  async connect(): Promise<Client & { release(): void }> {
    service();
    const client = new Client(this.connectionString) as Client & { release(): void };
    client.release = () => {};
    return client;
  }
  query(textOrConfig: string | QueryConfig, valuesOrCallback?: unknown[] | Callback, maybeCallback?: Callback): Promise<QueryResult> | undefined {
    return queryOrRefuse(this.#ended && 'Cannot use a pool after calling end on the pool', this.connectionString, textOrConfig, valuesOrCallback, maybeCallback);
  }
  end(callback?: (error: Error | null) => void): Promise<void> | undefined {
    this.#ended = true;
    return settle(Promise.resolve(), callback);
  }
  on(): this {
    return this;
  }
}

export default { Client, Pool };
