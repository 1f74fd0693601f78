/**
 * The `latent-fleet coordinator` process of a multi-process test fleet, and the client link to it: started
 * by the fleet's own launcher (its flags, its host), killed with SIGKILL, started again at the same or
 * another address. The link follows it: a client made before a move is closed, one made before a restart
 * in place reconnects after its first failed call (CoordinatorLink).
 */
import type { CoordinatorClient } from "../../src/cli/coordinator-client.js";
import type { Job } from "../../src/common/proto/generated/latentfleet/v1/Job.js";
import type { CliProcess } from "./cli-processes.js";
import { CoordinatorLink } from "./job-end.js";

export class CoordinatorProcess {
  private current: CliProcess | undefined;
  private address: string | undefined;
  private readonly link = new CoordinatorLink(() => {
    if (this.address === undefined) throw new Error("no coordinator started");
    return this.address;
  });

  /** The running coordinator; undefined before the first start and after a kill. */
  get process(): CliProcess | undefined {
    return this.current;
  }

  /** Starts it with `launch`, serving gRPC at `address`, and waits for `ready`. */
  async start(
    address: string,
    launch: () => CliProcess,
    ready: (p: CliProcess) => Promise<void>,
  ): Promise<CliProcess> {
    const p = launch();
    this.current = p;
    if (address !== this.address) this.link.close();
    this.address = address;
    await ready(p);
    return p;
  }

  /** SIGKILL, and waits until it has exited. */
  async kill(): Promise<void> {
    const p = this.current;
    if (!p) return;
    p.child.kill("SIGKILL");
    await p.exited;
    this.current = undefined;
  }

  /** A client of the coordinator where it runs now. */
  client(): Promise<CoordinatorClient> {
    return this.link.client();
  }

  /** The job's snapshot; undefined while the coordinator does not answer. */
  getJob(jobId: string): Promise<Job | undefined> {
    return this.link.getJob(jobId);
  }

  /** Closes the client (the process is the fleet's to stop). */
  close(): void {
    this.link.close();
  }
}
