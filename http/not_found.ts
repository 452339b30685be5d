/**
 * The answer for a request no route takes: 405 with `Allow` when its path is a route of another
 * method (`GET /session`: use POST), else 404; both in the service's error shape.
 */
import type { Context, Hono } from "hono";
import { errorBody } from "./errors.ts";

interface RoutePattern {
  pattern: RegExp;
  methods: Set<string>;
}

/** A Hono path (`/v1/nodes/:id`, `:id{[0-9]+}`, `/assets/*`) as an anchored regular expression. */
export function pathPattern(path: string): RegExp {
  let source = "";
  for (const part of path.split(/(:[A-Za-z0-9_]+(?:\{[^}]*\})?\??|\*)/)) {
    if (part === "*") source += ".*";
    else if (part.startsWith(":")) {
      const custom = /\{([^}]*)\}/.exec(part);
      const segment = custom ? `(?:${custom[1]})` : "[^/]+";
      source += part.endsWith("?") ? `(?:${segment})?` : segment;
    } else source += part.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`); // as Hono matches: `/session/` is not `/session`
}

/** Builds the `notFound` handler of `app`; its routes are read on the first miss (all added by then). */
// deno-lint-ignore no-explicit-any
export function createNotFound(app: Hono<any>): (c: Context) => Response {
  let table: RoutePattern[] | undefined;

  function allowed(path: string): string[] {
    if (table === undefined) {
      const byPath = new Map<string, Set<string>>();
      for (const route of app.routes) {
        if (route.method === "ALL") continue; // middleware
        const methods = byPath.get(route.path) ?? new Set<string>();
        methods.add(route.method);
        if (route.method === "GET") methods.add("HEAD"); // Hono answers HEAD with the GET route
        byPath.set(route.path, methods);
      }
      table = [...byPath].map(([path, methods]) => ({ pattern: pathPattern(path), methods }));
    }
    const methods = new Set<string>();
    for (const route of table) {
      if (route.pattern.test(path)) { for (const m of route.methods) methods.add(m); }
    }
    return [...methods].sort();
  }

  return function notFound(c) {
    const methods = allowed(c.req.path);
    if (methods.length > 0 && !methods.includes(c.req.method)) {
      c.header("allow", methods.join(", "));
      return c.json(
        errorBody(
          "method_not_allowed",
          `${c.req.method} is not allowed on ${c.req.path}; use ${methods.join(" or ")}`,
        ),
        405,
      );
    }
    return c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`), 404);
  };
}
