// HTTP load with autocannon from the bench process (never the process of the server under test).
import autocannon from 'autocannon';

/**
 * Runs autocannon against `url` for `seconds`, cycling through `paths`. Returns req/s (mean over the
 * run), latency p50/p99 in ms, and the counts of errors and non-2xx answers (which must be zero).
 */
export async function load(url, paths, { seconds, connections = 10, headers = {} }) {
  let next = 0;
  const result = await autocannon({
    url,
    connections,
    pipelining: 1,
    duration: seconds,
    headers: { accept: 'application/json', ...headers },
    requests: [
      {
        method: 'GET',
        setupRequest: (request) => {
          const path = paths[next];
          next = (next + 1) % paths.length;
          return { ...request, path };
        },
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.average,
    totalRequests: result.requests.total,
    latencyMean: result.latency.mean,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    latencyMax: result.latency.max,
    bytesPerSecond: result.throughput.average,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}
