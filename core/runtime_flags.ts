/**
 * How the service process is run (`deno task start` and `deno task cluster` in deno.json say
 * the same; `core/runtime_flags_test.ts` keeps them in step). Both bound resident memory, not
 * speed (README, Operations; measurements in BENCHMARKS.md):
 *
 * - `MALLOC_ARENA_MAX=2`: glibc's default arena count doubled the RSS under 2,500 agents.
 * - `--heap-growing-percent=50`: V8 lets the old generation grow to 1.5× what the last major
 *   collection kept instead of its default ~3× and more. The service's state per agent or node
 *   lives for seconds (the latest report, replaced by the next), so it is promoted, then dies
 *   in the old generation; 10,000 ethstats nodes took RSS to 630+ MB with the default and to
 *   ~440 MB with 50, at the same CPU per frame. It must be given at start: set later (via
 *   `node:v8`) it has no effect.
 */
export const SERVICE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: "2" };
export const SERVICE_V8_FLAGS: readonly string[] = ["--heap-growing-percent=50"];

/** The `deno run` arguments that carry SERVICE_V8_FLAGS. */
export function serviceDenoArgs(): string[] {
  return [`--v8-flags=${SERVICE_V8_FLAGS.join(",")}`];
}
