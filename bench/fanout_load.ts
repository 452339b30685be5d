/**
 * Load process for the dashboard fan-out benchmark (run by bench.ts, never in the server's
 * process): opens N websocket clients, publishes reports through `POST /data`, and measures
 * what the clients receive.
 *
 * 1. RSS of the server (`--server-pid`) before and after the clients connect → bytes per client.
 * 2. Saturation: the publisher keeps at most `--window` messages ahead of the slowest sampled
 *    client (every 10th client decodes frames), so the server runs flat out without piling up
 *    queues; deliveries/s = frames received by all clients per second.
 * 3. Fixed rate: `--rate` messages/s; latency = receive time − publish time (same clock).
 *
 * Prints progress on stderr and `RESULT {json}` on stdout.
 */
import { Histogram } from "./histogram.ts";
import { buildRequest, HttpConnection } from "./http_client.ts";
import { flag, procStat } from "./process.ts";
import { openRawWs, type RawWs } from "./ws_raw.ts";

/** What the load process reports. */
export interface FanoutResult {
  clients: number;
  connected: number;
  closedByServer: number;
  rssBeforeBytes: number;
  rssConnectedBytes: number;
  rssAfterBytes: number;
  /** (RSS with clients − RSS before) / clients. */
  rssPerClientBytes: number;
  saturation: {
    seconds: number;
    messages: number;
    deliveries: number;
    deliveriesPerSecond: number;
    stalls: number;
  };
  fixed: {
    rate: number;
    seconds: number;
    messages: number;
    deliveries: number;
    deliveriesPerSecond: number;
    expectedDeliveries: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

async function main(): Promise<void> {
  const target = new URL(flag("url")); // http://host:port
  const wsPath = flag("ws-path", "/ws");
  const secret = flag("secret", "");
  const token = flag("token", "");
  const clientsN = Number(flag("clients", "1000"));
  const windowN = Number(flag("window", "20"));
  const saturateS = Number(flag("saturate-s", "10"));
  const rate = Number(flag("rate", "20"));
  const fixedS = Number(flag("fixed-s", "8"));
  const serverPid = Number(flag("server-pid", "0"));
  const hostname = target.hostname;
  const port = Number(target.port);
  const rss = () => (serverPid ? procStat(serverPid)?.rssBytes ?? 0 : 0);

  const rssBefore = rss();
  const latency = new Histogram();
  let measuring = false;
  const sampled: Array<{ last: number; ws?: RawWs }> = [];
  const clients: RawWs[] = [];
  let closedByServer = 0;
  for (let i = 0; i < clientsN; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(clientsN, i + 50); j++) {
      const isSampled = j % 10 === 0;
      const slot = isSampled ? { last: -1 } as { last: number; ws?: RawWs } : undefined;
      if (slot) sampled.push(slot);
      batch.push(
        openRawWs(hostname, port, wsPath, secret ? { wssecret: secret } : {}, {
          onText: slot
            ? (text) => {
              const p = text.indexOf('"pending":');
              if (p < 0) return;
              const seq = parseInt(text.slice(p + 10), 10);
              if (seq > slot.last) slot.last = seq;
              if (measuring) {
                const t = text.indexOf('"t":');
                if (t >= 0) latency.record(now() - parseFloat(text.slice(t + 4)));
              }
            }
            : undefined,
          onClose: (reason) => {
            if (reason.startsWith("server") || reason.startsWith("connection")) closedByServer++;
          },
        }, isSampled).then((ws) => {
          if (slot) slot.ws = ws;
          clients.push(ws);
        }),
      );
    }
    await Promise.all(batch);
  }
  await sleep(1500);
  const rssConnected = rss();
  console.error(
    `[fanout] ${clients.length} clients connected; server RSS +${
      ((rssConnected - rssBefore) / 1e6).toFixed(1)
    } MB`,
  );

  const publishers = Array.from({ length: 4 }, () => new HttpConnection(hostname, port));
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers["authorization"] = `Bearer ${token}`;
  let seq = 0;
  const publish = async (pub = publishers[0]!) => {
    const k = seq++;
    const body = `{"id":"fanout-${
      k % 10
    }","type":"ethereum_metrics","data":{"type":"pending","body":{"pending":${k},"t":${now()}}}}`;
    const res = await pub.request(buildRequest("POST", "/data", target.host, headers, body));
    if (res.status !== 200) {
      throw new Error(`publish: HTTP ${res.status} ${new TextDecoder().decode(res.body)}`);
    }
  };
  const minSampled = () => {
    let m = Infinity;
    for (const s of sampled) if (s.ws && !s.ws.closed && s.last < m) m = s.last;
    return m === Infinity ? seq : m;
  };
  const totalFrames = () => clients.reduce((n, c) => n + c.frames, 0);

  // Warm-up.
  for (let i = 0; i < 50; i++) await publish();
  await sleep(500);

  // Saturation, windowed.
  let stalls = 0;
  const sat0 = totalFrames();
  const seq0 = seq;
  const satStart = performance.now();
  const satEnd = satStart + saturateS * 1000;
  // Several publishers, so a server that answers the POST only after its broadcast (the bare
  // one) always has the next message waiting instead of idling for a round trip.
  await Promise.all(publishers.map(async (pub) => {
    let waitingSince = 0;
    while (performance.now() < satEnd) {
      if (seq - 1 - minSampled() < windowN) {
        await publish(pub);
        waitingSince = 0;
        continue;
      }
      if (waitingSince === 0) waitingSince = performance.now();
      else if (performance.now() - waitingSince > 2000) {
        stalls++;
        await publish(pub);
        waitingSince = 0;
        continue;
      }
      await sleep(1);
    }
  }));
  // Count what the messages published so far deliver, up to 3 s after the phase.
  const satPublished = seq - seq0;
  const drainUntil = performance.now() + 3000;
  while (minSampled() < seq - 1 && performance.now() < drainUntil) await sleep(5);
  const satSeconds = (performance.now() - satStart) / 1000;
  const satDeliveries = totalFrames() - sat0;
  console.error(
    `[fanout] saturation: ${satPublished} messages, ${(satDeliveries / satSeconds).toFixed(0)} deliveries/s`,
  );

  // Fixed rate.
  await sleep(500);
  latency.reset();
  measuring = true;
  const fix0 = totalFrames();
  const fixSeq0 = seq;
  const fixStart = performance.now();
  const interval = 1000 / rate;
  let next = fixStart;
  while (performance.now() < fixStart + fixedS * 1000) {
    if (performance.now() >= next) {
      await publish();
      next += interval;
    } else await sleep(Math.max(0, Math.min(5, next - performance.now())));
  }
  const fixPublished = seq - fixSeq0;
  const fixDrain = performance.now() + 3000;
  while (minSampled() < seq - 1 && performance.now() < fixDrain) await sleep(5);
  const fixSeconds = (performance.now() - fixStart) / 1000;
  measuring = false;
  const fixDeliveries = totalFrames() - fix0;
  const rssAfter = rss();
  const open = clients.filter((c) => !c.closed).length;

  const result: FanoutResult = {
    clients: clientsN,
    connected: clients.length,
    closedByServer,
    rssBeforeBytes: rssBefore,
    rssConnectedBytes: rssConnected,
    rssAfterBytes: rssAfter,
    rssPerClientBytes: (rssConnected - rssBefore) / clientsN,
    saturation: {
      seconds: satSeconds,
      messages: satPublished,
      deliveries: satDeliveries,
      deliveriesPerSecond: satDeliveries / satSeconds,
      stalls,
    },
    fixed: {
      rate,
      seconds: fixSeconds,
      messages: fixPublished,
      deliveries: fixDeliveries,
      deliveriesPerSecond: fixDeliveries / fixSeconds,
      expectedDeliveries: fixPublished * open,
      p50Ms: latency.quantile(0.5),
      p99Ms: latency.quantile(0.99),
      maxMs: latency.max,
    },
  };
  for (const c of clients) c.close();
  for (const pub of publishers) pub.close();
  console.log(`RESULT ${JSON.stringify(result)}`);
  Deno.exit(0);
}

if (import.meta.main) await main();
