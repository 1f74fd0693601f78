/** Reading the server's JSON API. */
import type { ErrorBody } from "./api.js";

/** The server answered, and said no (a job it does not know): unlike a lost connection, not retried. */
export class HttpError extends Error {}

/** Why the server refused, as its body says (nothing when the body is not JSON). */
export async function reasonOf(res: Response): Promise<string | undefined> {
  return ((await res.json().catch(() => ({}))) as ErrorBody).error;
}

export async function getJson<T>(url: string): Promise<T> {
  // A request that never answers would hold the one refresh in flight, and so every later one.
  const res = await fetch(url, {
    headers: { Accept: "application/json" },
    signal: AbortSignal.timeout(30_000),
  });
  if (!res.ok) throw new HttpError(`${res.status} ${(await reasonOf(res)) ?? res.statusText}`);
  return (await res.json()) as T;
}
