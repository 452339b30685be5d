import assert from "node:assert/strict";
import { SERVICE_ENV, serviceDenoArgs } from "./runtime_flags.ts";

const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));

Deno.test("deno.json: start and cluster run Deno with the service's allocator and V8 settings", () => {
  for (const task of ["start", "cluster"]) {
    const command: string = config.tasks[task].command;
    for (const [name, value] of Object.entries(SERVICE_ENV)) {
      assert.ok(command.startsWith(`${name}=${value} `) || command.includes(` ${name}=${value} `), command);
    }
    for (const arg of serviceDenoArgs()) {
      assert.ok(command.split(" ").includes(arg), `${task}: ${command} lacks ${arg}`);
    }
  }
});
