/**
 * The `alerts` receiver's webhook sink (receivers/alerts.ts runs it behind a receiver runner): one
 * POST per alert, retried by the runner until the endpoint answers 2xx, or set aside when it refuses
 * the body for good.
 */
import type { Receiver } from "../core/receiver.ts";
import type { Alert } from "./alert_types.ts";
import type { AlertsOptions } from "./alerts.ts";
import { errorText } from "../core/error_text.ts";

/** Counters of a webhook sink. */
export interface SinkCounters {
  delivered: number;
  /** Alerts the endpoint refused for good, written to the set-aside file instead. */
  setAside: number;
  /** Alerts the endpoint refused for good when the set-aside file was full: dropped (logged). */
  setAsideDropped: number;
}

/**
 * Answers that say the endpoint will never take this body (not its configuration: 401, 403 and 404
 * are retried for ever, as are 408, 429 and 5xx, until someone fixes the endpoint).
 */
const REFUSED_FOR_GOOD = new Set([400, 413, 415, 422]);
/** Times an alert is answered one of those before it is set aside. */
const REFUSED_ATTEMPTS = 5;

/**
 * A durable receiver that POSTs each message's `data` (an Alert) to the webhook, one per call: a
 * non-2xx answer, a network error or a timeout throws, and the runner retries that alert. An alert
 * answered 400, 413, 415 or 422 REFUSED_ATTEMPTS times in a row is appended to `setAsidePath` (one
 * JSON body per line, as it was POSTed) and counts as done: retried for ever, it held every alert
 * behind it (a body the endpoint's parser refuses stays refused). The file holds at most
 * `maxDiskBytes`: an endpoint that refuses every body (a chat webhook that wants its own fields)
 * would fill the disk with it; past the bound such an alert is dropped and logged.
 */
export function createWebhookSink(
  id: string,
  options: Pick<AlertsOptions, "url" | "headers" | "timeoutMs" | "maxDiskBytes">,
  counters: SinkCounters,
  setAsidePath: string,
): Receiver {
  /** The alert answered "refused for good" last, and how many times in a row. */
  let refusing: { id: string; times: number } | null = null;
  const closing = new AbortController();
  const origin = new URL(options.url).origin; // logged instead of the URL (it may carry a token)
  const parsed = new URL(options.url);
  const href = parsed.href;
  // Deno's errors name the URL without its user info.
  parsed.username = "";
  parsed.password = "";
  const bare = parsed.href;
  const hideUrl = (text: string) =>
    text.replaceAll(options.url, origin).replaceAll(href, origin).replaceAll(bare, origin);
  /** The set-aside file's size now (an operator may have emptied or removed it). */
  async function setAsideBytes(): Promise<number> {
    try {
      return (await Deno.stat(setAsidePath)).size;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return 0;
      throw err;
    }
  }
  async function post(alert: Alert): Promise<void> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), options.timeoutMs);
    let status: number;
    try {
      const res = await fetch(options.url, {
        method: "POST",
        headers: {
          ...options.headers,
          "content-type": "application/json",
          "idempotency-key": alert.id,
        },
        body: JSON.stringify(alert),
        signal: AbortSignal.any([timeout.signal, closing.signal]),
        // A redirect is not a delivery: followed, a 301/302 made the alert a GET without a body, and
        // the 2xx at its end counted it delivered. Answered 3xx, it is retried (and logged) instead.
        redirect: "manual",
      });
      status = res.status;
      await res.body?.cancel();
    } catch (err) {
      const why = timeout.signal.aborted
        ? `no answer in ${options.timeoutMs} ms`
        : closing.signal.aborted
        ? "closing"
        : hideUrl(errorText(err));
      throw new Error(`webhook ${origin}: POST of alert ${alert.id} failed: ${why}`);
    } finally {
      clearTimeout(timer);
    }
    if (status >= 200 && status <= 299) {
      refusing = null;
      counters.delivered++;
      return;
    }
    if (REFUSED_FOR_GOOD.has(status)) {
      if (refusing?.id !== alert.id) refusing = { id: alert.id, times: 0 };
      if (++refusing.times >= REFUSED_ATTEMPTS) {
        refusing = null;
        const line = JSON.stringify(alert) + "\n";
        const full = await setAsideBytes() + line.length > options.maxDiskBytes;
        if (full) counters.setAsideDropped++;
        else {
          await Deno.writeTextFile(setAsidePath, line, { append: true, mode: 0o600 });
          counters.setAside++;
        }
        console.error(
          `receiver ${id}: webhook ${origin} answered ${status} ${REFUSED_ATTEMPTS} times to alert ${alert.id} ` +
            `(${alert.event} of ${JSON.stringify(alert.node.slice(0, 64))}): ` +
            (full
              ? `dropped, ${setAsidePath} holds maxDiskBytes already (fix the endpoint, POST that file's ` +
                "lines again and remove it)"
              : `set aside in ${setAsidePath}, the alerts behind it go on (fix the endpoint, then POST that ` +
                "file's lines again)"),
        );
        return;
      }
    }
    const hint = status >= 300 && status < 400 ? " (a redirect: set the webhook url to where it points)" : "";
    throw new Error(`webhook ${origin}: POST of alert ${alert.id} answered ${status}${hint}`);
  }
  return {
    id,
    durable: true,
    async receive(batch) {
      for (const message of batch) await post(message.data as unknown as Alert);
    },
    close() {
      closing.abort();
    },
  };
}
