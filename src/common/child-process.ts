/** Child processes tied to this one, and free loopback ports for them. */
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";

/** A port that was free a moment ago (nats-server has no "any free port" for its client port in every version). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

let setprivPath: string | null | undefined;

/** True when the child can be tied to this process's death (`setpriv --pdeathsig`, Linux util-linux >= 2.33). */
export function parentDeathSignalAvailable(): boolean {
  if (setprivPath === undefined) {
    setprivPath = null;
    if (process.platform === "linux") {
      for (const candidate of ["setpriv", "/usr/bin/setpriv", "/bin/setpriv"]) {
        const probe = spawnSync(candidate, ["--help"], { encoding: "utf8", timeout: 5_000 });
        if (probe.status === 0 && probe.stdout.includes("--pdeathsig")) {
          setprivPath = candidate;
          break;
        }
      }
    }
  }
  return setprivPath !== null;
}

/** Runs the command under `setpriv --pdeathsig TERM` where available. */
export function withParentDeathSignal(bin: string, args: string[]): [string, string[]] {
  return parentDeathSignalAvailable() && setprivPath
    ? [setprivPath, ["--pdeathsig", "TERM", "--", bin, ...args]]
    : [bin, args];
}
