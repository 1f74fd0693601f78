/**
 * `latent-fleet worker` from the sources, for tests that need it as a separate process (signals, exit
 * codes) before the build: `node --import tsx test/helpers/worker-cli.ts --nats URL --model DIR ...`.
 */
import { Command, CommanderError } from "commander";
import { registerWorker } from "../../src/cli/commands/worker.js";
import { exitCodeFor, isLatentFleetError } from "../../src/common/errors.js";

const program = new Command("latent-fleet").exitOverride();
registerWorker(program);
try {
  await program.parseAsync(["node", "latent-fleet", "worker", ...process.argv.slice(2)]);
  process.exitCode = 0;
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode;
  else {
    process.stderr.write(
      `latent-fleet: ${isLatentFleetError(err) ? `${err.message} [${err.code}]` : String(err)}\n`,
    );
    process.exitCode = exitCodeFor(err);
  }
}
