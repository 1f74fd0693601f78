/**
 * `run`'s embedded nats-server, started on a port chosen before it: the processes start beside it, already
 * given its URL, and wait for it to listen. When another program takes that port between the choice and
 * the server's listen, the processes are stopped (none has connected) and started again beside a server on
 * another port, a few times at most.
 */
import type { EmbeddedNatsServer } from "../../common/nats/embedded-server.js";
import { portTaken } from "./run-ports.js";

/** Ports tried for the embedded nats-server when another program takes the chosen one first. */
export const NATS_PORT_ATTEMPTS = 5;

export interface NatsBesideProcesses {
  /** The port the processes were started with. */
  port: number;
  /** Starts nats-server on `port`; rejects with its log ("address already in use") when it cannot listen. */
  startServer(port: number): Promise<EmbeddedNatsServer>;
  /** Another free port, none of `run`'s own. */
  pickPort(): Promise<number>;
  stopProcesses(): Promise<void>;
  startProcesses(port: number): Promise<void>;
  attempts?: number;
}

/** The server once it listens; any other failure, or the last port taken, stops the processes and throws. */
export async function startNatsBesideProcesses(o: NatsBesideProcesses): Promise<EmbeddedNatsServer> {
  const attempts = o.attempts ?? NATS_PORT_ATTEMPTS;
  let port = o.port;
  for (let attempt = 1; ; attempt++) {
    try {
      return await o.startServer(port);
    } catch (err) {
      await o.stopProcesses();
      if (!portTaken(err) || attempt >= attempts) throw err;
      port = await o.pickPort();
      await o.startProcesses(port);
    }
  }
}
