import { encode } from "@msgpack/msgpack";
import { decodeMsgpack } from "../http/msgpack_decoder.ts";
const hex = (n: number) => "0x" + n.toString(16).padStart(64, "0");
const tx = (i: number) => ({
  hash: hex(i),
  from: hex(i + 1).slice(0, 42),
  to: hex(i + 2).slice(0, 42),
  value: "0x" + i.toString(16),
  gas: "0x5208",
  gasPrice: "0x3b9aca00",
  input: "0x",
  nonce: "0x1",
  blockNumber: "0x10",
});
const history = {
  id: "agent-1",
  type: "ethereum_metrics",
  data: {
    type: "history",
    body: {
      history: Array.from(
        { length: 41 },
        (_, b) => ({
          number: b,
          hash: hex(b),
          parentHash: hex(b + 1),
          transactions: Array.from({ length: 150 }, (_, i) => tx(i + b * 1000)),
          uncles: [],
        }),
      ),
    },
  },
};
const stats = {
  id: "agent-1",
  type: "ethereum_metrics",
  data: {
    type: "statistics",
    body: {
      active: true,
      mining: false,
      hashrate: 0,
      peers: 25,
      gasPrice: 1000000000,
      syncing: false,
      uptime: 100,
    },
  },
};
const hb = encode(history), sb = encode(stats);
console.log("history bytes", hb.byteLength);
for (let round = 0; round < 3; round++) {
  let t = performance.now();
  for (let i = 0; i < 30; i++) decodeMsgpack(hb);
  const h = (performance.now() - t) / 30;
  t = performance.now();
  for (let i = 0; i < 200_000; i++) decodeMsgpack(sb);
  const s = (performance.now() - t) / 200_000 * 1000;
  console.log(`history ${h.toFixed(2)} ms, statistics ${s.toFixed(0)} ns`);
}
