/** Salted, slow password hashes (scrypt) compared in constant time. */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/**
 * scrypt cost of new hashes: N = 2^13, r = 8 (8 MiB and ~18 ms of a core per guess here). The
 * POA agent gives up on a login after 500 ms, so 24 agents logging in at once (a restart of a
 * network's agents) must all be answered within it: on this 2-core box 24 first logins take
 * ~240 ms at N = 2^13 and ~560 ms at 2^14 (BENCHMARKS.md, "First logins"). Each guess at a stolen
 * hash still costs an attacker 8 MiB of memory, which is what keeps GPUs from running many at
 * once. Stored hashes carry their own parameters, so hashes made with other settings keep working.
 */
const N = 8192;
const R = 8;
const P = 1;
const KEYLEN = 32;

/**
 * scrypt runs at most this many at once. Each takes 128·N·r bytes (8 MiB here) that the
 * allocator keeps afterwards, so concurrent logins would otherwise grow RSS by 8 MiB each;
 * two keep both cores busy.
 */
export const SCRYPT_CONCURRENCY = 2;

let running = 0;
let peak = 0;
const queued: Array<() => void> = [];

/** How many scrypt runs are in progress, waiting, and the most that ever ran at once. */
export function scryptLoad(): { running: number; queued: number; peak: number } {
  return { running, queued: queued.length, peak };
}

async function withScryptSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (running < SCRYPT_CONCURRENCY) running++;
  else await new Promise<void>((resolve) => queued.push(resolve)); // the slot is handed over
  peak = Math.max(peak, running);
  try {
    return await fn();
  } finally {
    const next = queued.shift();
    if (next) next();
    else running--;
  }
}

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return withScryptSlot(() =>
    new Promise((resolve, reject) => {
      scrypt(password, salt, KEYLEN, { N: n, r, p, maxmem: 64 * 1024 * 1024 }, (err, key) => {
        if (err) reject(err);
        else resolve(key);
      });
    })
  );
}

/** Hashes a password as `scrypt$N$r$p$salt$hash` (base64 parts). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** Checks a password against a stored hash; false for any malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![n, r, p].every(Number.isSafeInteger)) return false;
  const salt = Buffer.from(parts[4]!, "base64");
  const expected = Buffer.from(parts[5]!, "base64");
  const actual = await derive(password, salt, n, r, p);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Constant-time string comparison (for admin passwords and shared secrets). */
export function safeEqual(a: string, b: string): boolean {
  const enc = new TextEncoder();
  const ab = enc.encode(a);
  const bb = enc.encode(b);
  // Compare equal-length buffers so the time does not reveal the length.
  const len = Math.max(ab.length, bb.length, 1);
  const pa = new Uint8Array(len);
  const pb = new Uint8Array(len);
  pa.set(ab);
  pb.set(bb);
  return timingSafeEqual(pa, pb) && ab.length === bb.length;
}

const ALPHANUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** A random alphanumeric string (for generated user names and passwords). */
export function randomString(length: number): string {
  const bytes = randomBytes(length * 2);
  let out = "";
  for (let i = 0; out.length < length && i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 248) out += ALPHANUM[b % 62]; // 248 = 4 * 62: no modulo bias
  }
  return out.length === length ? out : out + randomString(length - out.length);
}
