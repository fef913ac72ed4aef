/** A stand-in for `fetch` in the client's unit tests: records each request and answers as the test says. */
export interface Recorded {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
  /** The events of a `POST /events` body. */
  events: { id: string; [key: string]: unknown }[];
  at: number;
}

export type Responder = (request: Recorded, index: number) => Response | Promise<Response>;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/** The 202 the service gives: one id per event (here the key itself, prefixed, so tests can match them). */
export const accepted = (r: Recorded) =>
  json(202, { accepted: r.events.length, ids: r.events.map((e) => `ev-${e.id}`) });

export function fakeFetch(responder: Responder = accepted) {
  const requests: Recorded[] = [];
  const fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const body = typeof init.body === 'string' ? init.body : '';
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    let events: Recorded['events'] = [];
    if (body !== '') events = (JSON.parse(body) as { events: Recorded['events'] }).events;
    const request: Recorded = {
      url: String(input),
      method: init.method ?? 'GET',
      headers,
      body,
      events,
      at: Date.now(),
    };
    requests.push(request);
    return responder(request, requests.length - 1);
  };
  return {
    fetch: fetch as typeof globalThis.fetch,
    requests,
    eventRequests: () => requests.filter((r) => r.url.endsWith('/events')),
  };
}

export const event = (n: number, extra: Record<string, unknown> = {}) => ({
  type: 'test.event',
  data: { n, ...extra },
});

/** Settles pending promise callbacks (and the client's pump) without advancing fake time. */
export const tick = async (times = 5) => {
  for (let i = 0; i < times; i++) await Promise.resolve();
};
