// The package's types are `export = postgres` (CommonJS style); Deno takes a default import of them
// only from npm packages, so this file re-exports them as the ES module default.
import postgres = require("./index.d.ts");
export default postgres;
