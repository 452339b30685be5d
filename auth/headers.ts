/** Parsers for the Authorization header: malformed input yields null, never a throw. */

/** Credentials from `Authorization: Basic base64(user:password)`. */
export interface BasicCredentials {
  user: string;
  password: string;
}

const MAX_HEADER = 4096;

/** Parses a Basic header; null when absent, oversized or malformed (bad base64, no colon, empty parts). */
export function parseBasic(header: string | null | undefined): BasicCredentials | null {
  if (!header || header.length > MAX_HEADER) return null;
  const match = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(header);
  if (!match) return null;
  let decoded: string;
  try {
    const binary = atob(match[1]!);
    const bytes = Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
  const colon = decoded.indexOf(":");
  if (colon <= 0 || colon === decoded.length - 1) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The token of `Authorization: Bearer <token>`; null when absent or malformed. */
export function parseBearer(header: string | null | undefined): string | null {
  if (!header || header.length > MAX_HEADER) return null;
  const match = /^Bearer[ ]+([A-Za-z0-9_.~+/=-]+)[ ]*$/i.exec(header);
  return match ? match[1]! : null;
}
