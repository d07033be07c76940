/**
 * The emulator admin API's rules for clients, and a small client for tests, benches and scripts.
 *
 * The admin API (`/__admin/*`, src/emulator/server.ts) changes how the emulator behaves (faults) and
 * tells what it was asked (counters), so a web page in a browser on this machine must not reach it:
 * a page can send a "simple" cross-site POST (text/plain body, no preflight) to 127.0.0.1, and with
 * DNS rebinding it can even read answers. So every admin request must
 *   - carry `X-KMS-Envelope-Admin: 1` — a page can send a custom header only after a CORS preflight,
 *     which the emulator never grants;
 *   - name a loopback host in `Host` (127.x.x.x, localhost, [::1]) — a rebound name such as
 *     `evil.example` is refused;
 *   - carry no `Origin` — browsers send one with every cross-site and every POST/PUT/DELETE request;
 *   - send a body, if any (PUT/POST), as `Content-Type: application/json`.
 * Node's fetch, curl and the in-repo helpers meet all four by sending the header (and JSON).
 */
export const ADMIN_HEADER = 'X-KMS-Envelope-Admin';

/** Headers of an admin request: the admin header and JSON. */
export const ADMIN_HEADERS: Readonly<Record<string, string>> = { [ADMIN_HEADER]: '1', 'Content-Type': 'application/json' };

/**
 * Calls the admin API of the emulator at `url` (`http://127.0.0.1:port`): `path` below `/__admin/`
 * (`faults`, `counters`, `reset`, `health`), `body` sent as JSON. Returns the parsed answer; throws
 * with the status and the emulator's message on anything but 200.
 */
export async function emulatorAdmin<T = Record<string, number>>(url: string, method: string, path: string, body?: unknown): Promise<T> {
  const target = `${url.replace(/\/+$/, '')}/__admin/${path.replace(/^\/?(__admin\/)?/, '')}`;
  const r = await fetch(target, { method, headers: ADMIN_HEADERS, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`emulator admin ${method} ${target}: ${r.status} ${text.trim()}`);
  return JSON.parse(text) as T;
}
