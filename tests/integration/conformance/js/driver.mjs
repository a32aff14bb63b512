// Drives one published OpenFeature OFREP provider for the conformance suite.
//
//   node driver.mjs <server|web> <base URL>
//
// Reads one JSON request per line on stdin and answers one JSON line on stdout:
//   {"op": "evaluate", "cases": [case, ...]}       -> {"ok": true, "results": [result, ...]}
//   {"op": "await_change", "case": case, "timeoutMs": n}
//                                                   -> {"ok": true, "result": result}
//   {"op": "requests"}                              -> {"ok": true, "requests": [...]}
// where a case is {key, type, default, context, headers, pollMs?} (headers: [[name, value]])
// and a result {value, variant, reason, errorCode, errorMessage, flagMetadata, initError,
// requests}: what the OpenFeature client answered, how the provider's initialisation
// failed (web only), and the HTTP exchange behind the answer (the evaluation's request
// for "server", the provider's initial bulk request for "web").
//
// "server" is @openfeature/ofrep-provider with @openfeature/server-sdk (one HTTP request
// per evaluation). "web" is @openfeature/ofrep-web-provider with @openfeature/web-sdk: a
// static-context provider that fetches every flag once per context (bulk, with ETag)
// and then answers from its cache, so it gets one provider instance per context.
// Every request the provider makes goes through a recording fetch, so the suite can see
// the ETag / If-None-Match / 304 exchange.

import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

// The providers' ES entry points wrap their CommonJS builds, which load the SDKs with
// require(); loading the SDKs the same way keeps one copy of each module (and of its
// error classes) in the process.
const require = createRequire(import.meta.url);

// Protocol answers own stdout; anything a library logs goes to stderr.
const toStderr = (...parts) => process.stderr.write(parts.map(String).join(' ') + '\n');
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;

const [kind, baseUrl] = process.argv.slice(2);
if (!['server', 'web'].includes(kind) || !baseUrl) {
  process.stderr.write('usage: node driver.mjs <server|web> <base URL>\n');
  process.exit(2);
}

// Every request any provider made (the "requests" op drains it).
const requests = [];

// A fetch that records each exchange in the shared log and in ``sink``.
function recordingFetch(sink) {
  return async (input, init) => {
    const request = new Request(input, init);
    const response = await fetch(request);
    const entry = {
      method: request.method,
      path: new URL(request.url).pathname,
      status: response.status,
      ifNoneMatch: request.headers.get('if-none-match'),
      etag: response.headers.get('etag'),
      errorCode: null,
    };
    if (response.status >= 400) {
      try {
        entry.errorCode = (await response.clone().json()).errorCode ?? null;
      } catch {
        // not a JSON body: nothing to record
      }
    }
    requests.push(entry);
    sink.push(entry);
    return response;
  };
}

function digest(value) {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

function plainResult(details, initError, exchange) {
  return {
    value: details.value === undefined ? null : details.value,
    variant: details.variant ?? null,
    reason: details.reason ?? null,
    errorCode: details.errorCode ?? null,
    errorMessage: details.errorMessage ?? null,
    flagMetadata: { ...(details.flagMetadata ?? {}) },
    initError,
    requests: exchange,
  };
}

const METHODS = {
  boolean: 'getBooleanDetails',
  string: 'getStringDetails',
  integer: 'getNumberDetails',
  float: 'getNumberDetails',
  object: 'getObjectDetails',
};

function method(testCase) {
  const name = METHODS[testCase.type];
  if (!name) throw new Error(`unknown flag type ${JSON.stringify(testCase.type)}`);
  return name;
}

function makeServerDriver() {
  const { OpenFeature } = require('@openfeature/server-sdk');
  const { OFREPProvider } = require('@openfeature/ofrep-provider');
  const clients = new Map();

  async function client(testCase) {
    // One provider per set of headers: the provider sends them with every request.
    const domain = `server-${digest(testCase.headers)}`;
    if (!clients.has(domain)) {
      const exchange = [];
      const provider = new OFREPProvider({
        baseUrl,
        headers: testCase.headers,
        fetchImplementation: recordingFetch(exchange),
      });
      await OpenFeature.setProviderAndWait(domain, provider);
      clients.set(domain, { client: OpenFeature.getClient(domain), exchange });
    }
    return clients.get(domain);
  }

  async function evaluate(testCase) {
    const entry = await client(testCase);
    entry.exchange.splice(0);
    const details = await entry.client[method(testCase)](testCase.key, testCase.default, testCase.context);
    return plainResult(details, null, entry.exchange.splice(0));
  }

  // Nothing is cached between evaluations: a change shows on the next one.
  return { evaluate, awaitChange: (testCase) => evaluate(testCase) };
}

function makeWebDriver() {
  const { OpenFeature, ProviderEvents } = require('@openfeature/web-sdk');
  const { OFREPWebProvider } = require('@openfeature/ofrep-web-provider');
  const instances = new Map();

  async function instance(testCase) {
    // A static-context provider holds the answers for one context: one per context.
    const pollMs = testCase.pollMs ?? 0;
    const domain = `web-${digest([testCase.headers, testCase.context, pollMs])}`;
    if (!instances.has(domain)) {
      const exchange = [];
      const provider = new OFREPWebProvider({
        baseUrl,
        headers: testCase.headers,
        fetchImplementation: recordingFetch(exchange),
        pollInterval: pollMs,
        changeDetection: pollMs > 0 ? 'polling' : 'none',
        // No localStorage in Node; the suite wants every answer from the server anyway.
        cacheMode: 'disabled',
      });
      const entry = { client: null, initError: null, initRequests: [], changed: new Set(), waiters: [] };
      instances.set(domain, entry);
      try {
        await OpenFeature.setProviderAndWait(domain, provider, testCase.context);
      } catch (error) {
        entry.initError = `${error?.name ?? 'Error'}: ${error?.message ?? error}`;
      }
      // What initialisation exchanged (the bulk request); later polls are not included.
      entry.initRequests = [...exchange];
      entry.client = OpenFeature.getClient(domain);
      entry.client.addHandler(ProviderEvents.ConfigurationChanged, (event) => {
        for (const key of event?.flagsChanged ?? []) entry.changed.add(key);
        entry.waiters.forEach((wake) => wake());
      });
    }
    return instances.get(domain);
  }

  async function evaluate(testCase) {
    const entry = await instance(testCase);
    const details = entry.client[method(testCase)](testCase.key, testCase.default);
    return plainResult(details, entry.initError, entry.initRequests);
  }

  async function awaitChange(testCase, timeoutMs) {
    const entry = await instance(testCase);
    if (!entry.changed.has(testCase.key)) {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no ConfigurationChanged event for ${testCase.key} within ${timeoutMs} ms`));
        }, timeoutMs);
        entry.waiters.push(() => {
          if (entry.changed.has(testCase.key)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    }
    entry.changed.delete(testCase.key);
    return evaluate(testCase);
  }

  return { evaluate, awaitChange };
}

const driver = kind === 'server' ? makeServerDriver() : makeWebDriver();

async function handle(request) {
  switch (request.op) {
    case 'evaluate': {
      const results = [];
      for (const testCase of request.cases) results.push(await driver.evaluate(testCase));
      return { ok: true, results };
    }
    case 'await_change':
      return { ok: true, result: await driver.awaitChange(request.case, request.timeoutMs ?? 10000) };
    case 'requests':
      return { ok: true, requests: requests.splice(0) };
    default:
      throw new Error(`unknown op ${JSON.stringify(request.op)}`);
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  let answer;
  try {
    answer = await handle(JSON.parse(line));
  } catch (error) {
    answer = { ok: false, error: String(error?.stack ?? error) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}
process.exit(0);
