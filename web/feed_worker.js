// One feed stream for every tab of the dashboard in a browser (a SharedWorker): over HTTP/1.1 a
// browser opens at most 6 connections to a host, and an event stream holds one for as long as it
// is open, so a stream per tab would leave a sixth tab with none for its page and API calls.
//
// Tabs send "connect" (a new tab needs a snapshot: the stream is opened again, and every tab gets
// the new snapshot) and "leave" (the tab is closing). The worker sends tabs {kind: "open"} when a
// stream starts, {kind: "event", data} for each event and {kind: "down", retryMs} when it failed;
// {kind: "joined"} at once on "connect", so that a tab knows the worker runs (else it reads alone).

const tabs = new Set();
let source = null;
let retryMs = 1000;
let retryTimer = null;

function broadcast(message) {
  for (const port of tabs) port.postMessage(message);
}

function open() {
  clearTimeout(retryTimer);
  retryTimer = null;
  source?.close();
  // The worker runs from assets/feed_worker.js: the feed is one level up.
  const stream = new EventSource(new URL("../feed", self.location.href));
  source = stream;
  stream.onopen = () => {
    retryMs = 1000;
    broadcast({ kind: "open" });
  };
  stream.onmessage = (event) => broadcast({ kind: "event", data: event.data });
  // Our own backoff rather than EventSource's fixed retry; a new stream starts with a snapshot.
  stream.onerror = () => {
    stream.close();
    if (source !== stream) return;
    source = null;
    broadcast({ kind: "down", retryMs });
    retryTimer = setTimeout(() => tabs.size > 0 && open(), retryMs);
    retryMs = Math.min(retryMs * 2, 30_000);
  };
}

self.onconnect = (event) => {
  const port = event.ports[0];
  port.onmessage = (message) => {
    if (message.data === "connect") {
      tabs.add(port);
      port.postMessage({ kind: "joined" });
      open();
    } else if (message.data === "leave") {
      tabs.delete(port);
      if (tabs.size === 0) {
        source?.close();
        source = null;
        clearTimeout(retryTimer);
      }
    }
  };
  port.start();
};
