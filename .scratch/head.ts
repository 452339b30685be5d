const s = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
  const u = new URL(req.url);
  if (u.pathname === "/a") return new Response(null, { headers: { "content-type": "application/json" } });
  if (u.pathname === "/b") return new Response(null, { headers: { "content-length": "123" } });
  return new Response("hello");
});
for (const p of ["/a", "/b", "/c"]) {
  const conn = await Deno.connect({ port: s.addr.port, hostname: "127.0.0.1" });
  await conn.write(new TextEncoder().encode(`HEAD ${p} HTTP/1.1\r\nhost: x\r\n\r\n`));
  const buf = new Uint8Array(1000);
  const n = await conn.read(buf);
  console.log(p, JSON.stringify(new TextDecoder().decode(buf.subarray(0, n!))));
  conn.close();
}
await s.shutdown();
