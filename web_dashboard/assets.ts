/**
 * The web dashboard's static files: read once from disk when the receiver is built, each with a
 * content hash used as ETag and as the `?v=` the page links it with (so it can be cached for good).
 */

/** Content types by file extension; files of other types are not served. */
const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  json: "application/json",
};

/** One static file in memory. */
export interface Asset {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
  /** First 16 hex digits of the SHA-256 of the body. */
  hash: string;
}

/** The page and its assets. */
export interface Assets {
  /** index.html with every `assets/<name>` link versioned as `assets/<name>?v=<hash>`. */
  page: Asset;
  /** Files by name (no directories), index.html excluded. */
  files: ReadonlyMap<string, Asset>;
}

async function hashOf(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** An asset made in memory (e.g. the map's world outline), hashed like the files. */
export async function memoryAsset(body: Uint8Array<ArrayBuffer>, contentType: string): Promise<Asset> {
  return { body, contentType, hash: await hashOf(body) };
}

/** Reads `dir` (index.html and the files beside it); throws when index.html is missing. */
export async function loadAssets(dir: string | URL): Promise<Assets> {
  const files = new Map<string, Asset>();
  let index: Uint8Array<ArrayBuffer> | undefined;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile) continue;
    const ext = entry.name.slice(entry.name.lastIndexOf(".") + 1).toLowerCase();
    const contentType = CONTENT_TYPES[ext];
    if (!contentType) continue;
    const body = await Deno.readFile(new URL(entry.name, toDirUrl(dir)));
    if (entry.name === "index.html") index = body;
    else files.set(entry.name, { body, contentType, hash: await hashOf(body) });
  }
  if (!index) throw new Error(`web dashboard: ${toDirUrl(dir).pathname}index.html is missing`);
  const html = new TextDecoder().decode(index).replace(
    /(["'])assets\/([\w.-]+)\1/g,
    (whole, quote: string, name: string) => {
      const asset = files.get(name);
      return asset ? `${quote}assets/${name}?v=${asset.hash}${quote}` : whole;
    },
  );
  const body = new TextEncoder().encode(html);
  return { page: { body, contentType: CONTENT_TYPES.html!, hash: await hashOf(body) }, files };
}

function toDirUrl(dir: string | URL): URL {
  if (dir instanceof URL) return dir.href.endsWith("/") ? dir : new URL(dir.href + "/");
  const absolute = dir.startsWith("/") ? dir : `${Deno.cwd()}/${dir}`;
  return new URL(`file://${absolute.endsWith("/") ? absolute : absolute + "/"}`);
}

/** The response for an asset: 304 when `If-None-Match` matches, long caching when `?v=` is current. */
export function assetResponse(
  asset: Asset,
  request: { ifNoneMatch: string | undefined; version: string | undefined },
  cacheControl?: string,
): Response {
  const etag = `"${asset.hash}"`;
  const headers: Record<string, string> = {
    etag,
    "content-type": asset.contentType,
    "x-content-type-options": "nosniff",
    "cache-control": cacheControl ??
      (request.version === asset.hash ? "public, max-age=31536000, immutable" : "no-cache"),
  };
  const tags = request.ifNoneMatch?.split(",").map((t) => t.trim().replace(/^W\//, ""));
  if (tags?.includes(etag) || tags?.includes("*")) return new Response(null, { status: 304, headers });
  return new Response(asset.body, { status: 200, headers });
}
