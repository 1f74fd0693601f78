/** Finds the nats-server executable for the embedded server of `latent-fleet run`. */
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import { LatentFleetError } from "../errors.js";

const INSTALL_HINT =
  "Install nats-server (Debian/Ubuntu: `apt-get install nats-server`; others: https://github.com/nats-io/nats-server/releases) " +
  "and put it on PATH, pass --nats-server-bin PATH, or give --nats URL to use a running server";

// The Debian/Ubuntu package installs /usr/sbin/nats-server, and sbin folders are often not on a user's PATH.
const FALLBACK_DIRS = ["/usr/sbin", "/usr/local/sbin", "/sbin"];

/**
 * Returns the path of nats-server: `binOverride` when given (a path, or a name looked up on PATH),
 * otherwise `nats-server` on PATH or in the sbin folders. Throws NATS_SERVER_MISSING with install
 * instructions.
 */
export function findNatsServer(binOverride?: string): string {
  if (binOverride !== undefined && binOverride !== "") {
    const found = binOverride.includes("/") ? executable(resolve(binOverride)) : onPath(binOverride);
    if (found) return found;
    throw new LatentFleetError(
      "NATS_SERVER_MISSING",
      `nats-server not found at ${binOverride} (--nats-server-bin): no executable file there. ${INSTALL_HINT}.`,
    );
  }
  const found = onPath("nats-server") ?? inDirs(FALLBACK_DIRS, "nats-server");
  if (found) return found;
  throw new LatentFleetError(
    "NATS_SERVER_MISSING",
    `nats-server is not on PATH (nor in ${FALLBACK_DIRS.join(", ")}). ${INSTALL_HINT}.`,
  );
}

function onPath(name: string): string | undefined {
  return inDirs((process.env.PATH ?? "").split(delimiter), name);
}

function inDirs(dirs: string[], name: string): string | undefined {
  for (const dir of dirs) {
    if (dir === "" || !isAbsolute(dir)) continue;
    const found = executable(join(dir, name));
    if (found) return found;
  }
  return undefined;
}

function executable(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return undefined;
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return undefined;
  }
}
