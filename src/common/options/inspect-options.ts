/** `inspect`'s contact sheet options. */
import type { IntegerOptionDefinition, TextOptionDefinition } from "./option-definition.js";

export const CONTACT_SHEET_OPTIONS = {
  contactSheet: {
    type: "text",
    flag: "--contact-sheet",
    value: "<file>",
    help: "write a PNG grid of the first samples with their prompts and seeds",
  },
  count: {
    type: "integer",
    flag: "--count",
    value: "<n>",
    min: 1,
    max: 256,
    default: 16,
    help: "how many samples --contact-sheet shows",
  },
} as const satisfies Record<string, TextOptionDefinition | IntegerOptionDefinition>;
