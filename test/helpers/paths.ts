import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The bundled trained model. */
export const TINY_SHAPES = process.env.LF_TEST_MODEL ?? join(ROOT, "models", "tiny-shapes");
/** The bundled flow-matching model in the SD3 layout (see models/tiny-shapes-flow/train.py). */
export const TINY_SHAPES_FLOW = process.env.LF_TEST_FLOW_MODEL ?? join(ROOT, "models", "tiny-shapes-flow");
/** Micro models with random weights in other exports' I/O conventions (see models/tiny-shapes/train.py). */
export const FIXTURE_MODELS = join(ROOT, "test", "fixtures", "models");
export const CLI = join(ROOT, "bin", "latent-fleet.js");
