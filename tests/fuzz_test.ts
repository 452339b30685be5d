/** Property-based fuzzing: no input makes a decoder, parser, validator or route throw a 5xx. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { encode } from "@msgpack/msgpack";
import { parseBasic, parseBearer } from "../auth/headers.ts";
import { decodeBytes } from "../http/body.ts";
import { AppError } from "../http/errors.ts";
import { ConfigError, parseConfig } from "../core/config.ts";
import { createHarness, userWithToken } from "./support/harness.ts";

const RUNS = 300;

Deno.test("fuzz: header parsers never throw", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), fc.string(), (a, b) => {
      parseBasic(a);
      parseBearer(a);
      parseBasic("Basic " + a);
      parseBasic("Basic " + btoa(unescape(encodeURIComponent(a + ":" + b))));
      parseBearer("Bearer " + a);
    }),
    { numRuns: RUNS * 3 },
  );
});

Deno.test("fuzz: body decoders only ever throw 4xx AppErrors", () => {
  const check = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof AppError && err.status >= 400 && err.status < 500, String(err));
    }
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), fc.jsonValue(), (bytes, value) => {
      check(() => decodeBytes(bytes, "json"));
      check(() => decodeBytes(bytes, "msgpack"));
      check(() => decodeBytes(new TextEncoder().encode(JSON.stringify(value)), "json"));
      check(() => decodeBytes(encode(value), "msgpack"));
    }),
    { numRuns: RUNS * 3 },
  );
});

Deno.test("fuzz: the config loader accepts or refuses with a ConfigError", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.jsonValue(),
        fc.record({ listen: fc.jsonValue(), jwt: fc.jsonValue(), loginLimit: fc.jsonValue() }, {
          requiredKeys: [],
        }),
      ),
      (raw) => {
        try {
          parseConfig(raw);
        } catch (err) {
          assert.ok(err instanceof ConfigError, String(err));
        }
      },
    ),
    { numRuns: RUNS * 3 },
  );
});

Deno.test("fuzz: random protocol and admin requests never get a 5xx", async () => {
  const h = await createHarness();
  try {
    const { token } = await userWithToken(h);
    const paths = [
      "/ping",
      "/data",
      "/bye",
      "/session",
      "/user",
      "/user/x",
      "/blacklist/token",
      "/blacklist/user",
      "/nope",
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.constantFrom("GET", "POST", "PATCH", "DELETE"),
        fc.constantFrom("application/json", "application/msgpack", "text/plain", ""),
        fc.oneof(
          fc.jsonValue(),
          fc.record({ id: fc.jsonValue(), type: fc.jsonValue(), data: fc.jsonValue() }, { requiredKeys: [] }),
        ),
        fc.oneof(
          fc.constant(`Bearer ${token}`),
          fc.string({ maxLength: 200 }),
          fc.constant("Basic " + btoa("root:root-password-123")),
        ),
        async (path, method, contentType, value, authorization) => {
          const headers: Record<string, string> = {};
          if (contentType) headers["content-type"] = contentType;
          if (authorization) headers["authorization"] = authorization;
          let body: BodyInit | undefined;
          if (method !== "GET") {
            body = contentType === "application/msgpack" ? encode(value) : JSON.stringify(value);
          }
          let res: Response;
          try {
            res = await h.app.request(path, { method, headers, body });
          } catch {
            return; // the Request constructor refused the header value: never reached the app
          }
          await res.body?.cancel();
          assert.ok(res.status < 500, `${method} ${path} → ${res.status}`);
        },
      ),
      { numRuns: RUNS },
    );
  } finally {
    await h.close();
  }
});
