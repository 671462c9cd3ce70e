// Preloaded with `node --import ./loopback.mjs`: Portkey's start-server.js has no host option
// and would listen on every interface; the tests serve it on 127.0.0.1 only.
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number") {
    const callback = typeof args.at(-1) === "function" ? args.at(-1) : undefined;
    return listen.call(this, { port: args[0], host: "127.0.0.1" }, callback);
  }
  if (args[0] && typeof args[0] === "object" && !("path" in args[0])) {
    args[0] = { ...args[0], host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};
