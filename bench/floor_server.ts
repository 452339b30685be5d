/**
 * The servers of bench/floor.ts: the same `POST /ping` answered by a bare `Deno.serve` and by
 * Hono, each variant adding one piece of what a protocol route does, to measure what each
 * piece costs. `deno run -A bench/floor_server.ts <variant> <port>`.
 */
import { Hono } from "hono";

export const VARIANTS = {
  "bare": "Deno.serve: reads the body, fixed answer (the bench's ceiling)",
  "bare+headers": "+ reads three request headers",
  "bare+parse": "+ decodes and JSON.parses the body",
  "hono": "Hono route: reads the body, fixed answer",
  "hono+middleware": 'Hono route behind a timing "*" middleware',
  "hono+middleware+parse": "Hono route behind the middleware, decoding and parsing the body",
} as const;

export type Variant = keyof typeof VARIANTS;

const FIXED = '{"result":"success"}';
const HEADERS = { "content-type": "application/json" };
const decoder = new TextDecoder("utf-8", { fatal: true });
const parse = (body: ArrayBuffer) => JSON.parse(decoder.decode(new Uint8Array(body)));

function handlerOf(variant: Variant): Deno.ServeHandler {
  switch (variant) {
    case "bare":
      return (req) => req.arrayBuffer().then(() => new Response(FIXED, { headers: HEADERS }));
    case "bare+headers":
      return (req) => {
        req.headers.get("content-type");
        req.headers.get("authorization");
        req.headers.get("content-length");
        return req.arrayBuffer().then(() => new Response(FIXED, { headers: HEADERS }));
      };
    case "bare+parse":
      return (req) => req.arrayBuffer().then((b) => (parse(b), new Response(FIXED, { headers: HEADERS })));
    default: {
      const app = new Hono();
      if (variant !== "hono") {
        app.use("*", async (c, next) => {
          const start = performance.now();
          await next();
          if (c.res.status < 0 || performance.now() < start) throw new Error("unreachable");
        });
      }
      const parses = variant === "hono+middleware+parse";
      // /ping and /data alike: bench/floor.ts posts to /ping, bench/bench.ts the service's /data requests.
      for (const path of ["/ping", "/data"]) {
        app.post(path, async (c) => {
          const body = await c.req.raw.arrayBuffer();
          if (parses) parse(body);
          return c.body(FIXED, 200, HEADERS);
        });
      }
      app.get("/user/:name", (c) => c.text(c.req.param("name")));
      return (req, info) => app.fetch(req, info);
    }
  }
}

if (import.meta.main) {
  const [variant, port] = Deno.args as [Variant, string];
  if (!(variant in VARIANTS)) throw new Error(`variant: one of ${Object.keys(VARIANTS).join(", ")}`);
  Deno.serve({
    hostname: "127.0.0.1",
    port: Number(port),
    onListen: () => console.log(`listening on http://127.0.0.1:${port}`),
  }, handlerOf(variant));
}
