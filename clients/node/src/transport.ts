import { RetryableFailure, retryAfterMs } from './retry.js';

/** An issue the server reported, by the event's position in the request. */
export interface IndexedIssue {
  index?: number;
  path: string;
  message: string;
}

/** What one `POST /events` came to, in the terms the delivery loop acts on. */
export type Outcome =
  | { kind: 'accepted'; ids: string[] }
  /** 503 from the function: `accepted` in the stream (request order), `failedIndexes` not (absent: resend all). */
  | { kind: 'partial'; accepted: string[]; failedIndexes?: number[]; failure: RetryableFailure }
  /** Nothing was taken and a retry may work: 429, another 5xx, a network error or a timeout. */
  | { kind: 'retry'; failure: RetryableFailure }
  /** 400/413: refused as a whole; `issues` name the events at fault by index, when the server could tell. */
  | { kind: 'invalid'; status: number; message: string; issues: IndexedIssue[] }
  | { kind: 'unauthorized'; message: string }
  /** 403: the route is not granted (no index) or one event's type or source is not (its index). */
  | { kind: 'forbidden'; message: string; index?: number }
  | { kind: 'refused'; status: number; message: string };

interface AnswerBody {
  message?: unknown;
  ids?: unknown;
  accepted?: unknown;
  failedIndexes?: unknown;
  errors?: unknown;
  index?: unknown;
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isIndexes = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0);

function issuesOf(errors: unknown): IndexedIssue[] {
  if (!Array.isArray(errors)) return [];
  return errors.flatMap((e: { index?: unknown; path?: unknown; message?: unknown }) =>
    typeof e === 'object' && e !== null && typeof e.message === 'string'
      ? [
          {
            ...(Number.isInteger(e.index) ? { index: e.index as number } : {}),
            path: typeof e.path === 'string' ? e.path : '',
            message: e.message,
          },
        ]
      : [],
  );
}

/** Reads an answer of `POST /events` (docs/ingestion.md, "Answers") for a request of `count` events. */
export async function readAnswer(response: Response, count: number): Promise<Outcome> {
  const status = response.status;
  const text = await response.text().catch(() => '');
  let body: AnswerBody = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null) body = parsed as AnswerBody;
  } catch {
    // not JSON (a proxy's error page): judged by the status alone
  }
  const message = typeof body.message === 'string' ? body.message : `HTTP ${status}`;
  const asked = retryAfterMs(response.headers.get('retry-after'));
  const failure = new RetryableFailure(`${status} ${message}`, asked, status);

  if (status === 202 && isStrings(body.ids) && body.ids.length === count) return { kind: 'accepted', ids: body.ids };
  if (status >= 200 && status < 300)
    // An answer that does not account for every event: resending them all is safe (same ids), guessing is not.
    return { kind: 'retry', failure: new RetryableFailure(`${status} answer without ${count} ids`, asked, status) };
  if (status === 503 && isStrings(body.accepted))
    return {
      kind: 'partial',
      accepted: body.accepted,
      ...(isIndexes(body.failedIndexes) ? { failedIndexes: body.failedIndexes } : {}),
      failure,
    };
  if (status === 429 || status >= 500) return { kind: 'retry', failure };
  if (status === 400 || status === 413) return { kind: 'invalid', status, message, issues: issuesOf(body.errors) };
  if (status === 401) return { kind: 'unauthorized', message };
  if (status === 403)
    return { kind: 'forbidden', message, ...(Number.isInteger(body.index) ? { index: body.index as number } : {}) };
  return { kind: 'refused', status, message };
}

/** One `POST /events` with a prepared JSON body; a network error or a timeout is an outcome, not a throw. */
export async function postEvents(
  fetchFn: typeof fetch,
  url: string,
  headers: Record<string, string>,
  body: string,
  count: number,
  timeoutMs: number,
): Promise<Outcome> {
  let response: Response;
  try {
    response = await fetchFn(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const failure = new RetryableFailure(
      `POST /events failed: ${(error as Error).message}`,
      undefined,
      undefined,
      error,
    );
    return { kind: 'retry', failure };
  }
  return readAnswer(response, count);
}
