import assert from "node:assert/strict";
import { parseClusterArgs } from "./cluster_args.ts";

Deno.test("cluster runner options: defaults, both spellings, and anything else refused with the usage (--help too)", () => {
  assert.deepEqual(parseClusterArgs([]), {
    ok: true,
    port: 4000,
    instances: 3,
    natsNodes: 3,
    dir: "data/cluster",
    hostname: "127.0.0.1",
  });
  assert.deepEqual(
    parseClusterArgs(["--port", "5000", "--instances=2", "--nats-nodes", "1", "--dir", "/tmp/c"]),
    {
      ok: true,
      port: 5000,
      instances: 2,
      natsNodes: 1,
      dir: "/tmp/c",
      hostname: "127.0.0.1",
    },
  );
  // Before, a typo was dropped (3 instances started for `--instance 1`) and --help started a cluster.
  const typo = parseClusterArgs(["--instance", "1"]);
  assert.equal(typo.ok, false);
  assert.match(!typo.ok ? typo.message : "", /Unknown option '--instance'[\s\S]*usage: deno task cluster/);
  const help = parseClusterArgs(["--help"]);
  assert.ok(!help.ok && help.help && help.message.startsWith("usage: deno task cluster"));
  assert.equal(parseClusterArgs(["--port", "0"]).ok, true); // free ports for all
  assert.equal(parseClusterArgs(["--port", "0", "--instances", "70000"]).ok, true);
  const refused = [
    ["--port", "x"],
    ["--instances", "0"],
    ["--nats-nodes", "1.5"],
    ["--port", "65535"],
    ["--port", "-1"],
    ["--port", ""], // Number(""): 0, free ports
    ["--port", "0x10"],
    ["--instances", " "],
  ];
  for (const args of [...refused, ["extra"]]) {
    const result = parseClusterArgs(args);
    assert.ok(!result.ok && !result.help, args.join(" "));
  }
});
