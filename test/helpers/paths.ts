import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The bundled trained model. */
export const TINY_SHAPES = process.env.LF_TEST_MODEL ?? join(ROOT, "models", "tiny-shapes");
/** Micro models with random weights in other exports' I/O conventions (see models/tiny-shapes/train.py). */
export const FIXTURE_MODELS = join(ROOT, "test", "fixtures", "models");
export const CLI = join(ROOT, "bin", "latent-fleet.js");
