/** Deno KV key builders: one function per key shape. */
export function userKey(name: string): Deno.KvKey {
  return ["users", name];
}
export function usersPrefix(): Deno.KvKey {
  return ["users"];
}
export function banKey(jti: string): Deno.KvKey {
  return ["banned_tokens", jti];
}
export function bansPrefix(): Deno.KvKey {
  return ["banned_tokens"];
}
export function jwtSecretKey(): Deno.KvKey {
  return ["config", "jwt_secret"];
}
