/**
 * Which folders of the coordinator's disk a submission may use: the prompt files and spec it names there
 * (read) and its output folder (written by the coordinator and the workers). Anyone who can reach the
 * coordinator's gRPC port can submit, so without this a submission could read any file the coordinator can
 * (its rows come back in errors.jsonl) or write into any folder. Files uploaded with the spec are not
 * affected: they never come from the coordinator's disk.
 *
 * Paths are compared after following symlinks of the part that exists, so a link inside a root that points
 * outside it does not get out.
 */
import { realpath } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { LatentFleetError } from "../common/errors.js";
import type { ByteRange, SourceAccess } from "../manifest/index.js";

export class PathPolicy {
  private constructor(private readonly roots: readonly string[] | null) {}

  /** Every path allowed (the library default; the CLI always passes roots). */
  static unrestricted(): PathPolicy {
    return new PathPolicy(null);
  }

  /** Only paths inside one of `roots` (resolved against the working folder). */
  static confinedTo(roots: readonly string[]): PathPolicy {
    if (roots.length === 0)
      throw new LatentFleetError("INVALID_ARGUMENT", "give at least one allowed folder");
    return new PathPolicy(roots.map((r) => resolve(r)));
  }

  get allowedRoots(): readonly string[] | null {
    return this.roots;
  }

  /** Throws PATH_NOT_ALLOWED unless `path` lies inside an allowed folder. */
  async check(path: string, use: "read" | "write"): Promise<void> {
    if (this.roots === null) return;
    const real = await realpathOfExistingPart(resolve(path));
    for (const root of this.roots) {
      const realRoot = await realpathOfExistingPart(root);
      if (isInside(real, realRoot)) return;
    }
    const what = use === "read" ? "reads files" : "writes outputs";
    throw new LatentFleetError(
      "PATH_NOT_ALLOWED",
      `${path} is outside the folders this coordinator ${what} in (${this.roots.join(", ")}); ` +
        "send the file with the spec, or choose a folder under those (the coordinator's --allow-path)",
    );
  }

  /** `access` for the coordinator's disk, refusing paths outside the allowed folders. */
  confine(access: SourceAccess): SourceAccess {
    if (this.roots === null) return access;
    return {
      statSource: async (path) => {
        await this.check(path, "read");
        return access.statSource(path);
      },
      openSource: (path: string, range?: ByteRange) => {
        // openSource is synchronous: the check runs first inside the stream it returns.
        const policy = this;
        async function* checked(): AsyncGenerator<Buffer> {
          await policy.check(path, "read");
          for await (const chunk of access.openSource(path, range)) yield chunk as Buffer;
        }
        return Readable.from(checked());
      },
    };
  }
}

function isInside(path: string, root: string): boolean {
  if (path === root) return true;
  const rel = relative(root, path);
  return rel !== "" && !rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel);
}

/** realpath of the longest existing prefix, with the rest appended (an output folder may not exist yet). */
async function realpathOfExistingPart(path: string): Promise<string> {
  let head = path;
  const tail: string[] = [];
  for (;;) {
    try {
      const real = await realpath(head);
      return tail.length === 0 ? real : resolve(real, ...tail.reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
      const parent = dirname(head);
      if (parent === head) return path;
      tail.push(head.slice(parent.length + (parent.endsWith(sep) ? 0 : 1)));
      head = parent;
    }
  }
}
