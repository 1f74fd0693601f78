/** Starting and stopping the project's small HTTP servers (metrics, the coordinator's page) the same way. */
import type { Server } from "node:http";
import { LatentFleetError } from "./errors.js";
import { errorMessage } from "./log.js";

export interface HttpBound {
  /** The bound port (the chosen one when 0 was asked for). */
  port: number;
  /** HOST:PORT as bound, an IPv6 host in brackets. */
  hostPort: string;
}

/** Listens on host:port; a failure (port taken, no such address) is INVALID_ARGUMENT naming `what` and `address`. */
export async function listenHttp(
  server: Server,
  host: string,
  port: number,
  what: string,
  address: string,
): Promise<HttpBound> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(
        new LatentFleetError("INVALID_ARGUMENT", `cannot serve ${what} on ${address}: ${errorMessage(err)}`, {
          cause: err,
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const boundPort = typeof bound === "object" && bound !== null ? bound.port : port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return { port: boundPort, hostPort: `${shownHost}:${boundPort}` };
}

/** Closes the server, dropping open connections: a keep-alive client would hold close() open. */
export function closeHttpServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
