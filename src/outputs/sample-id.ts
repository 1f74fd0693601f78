/** Sample ids name files (an imagefolder image is `<id>.png`), so a job's ids must make plain file names. */
import { LatentFleetError } from "../common/errors.js";
import { TMP_MARK } from "../common/storage/index.js";

const MAX_SAMPLE_ID_LENGTH = 200;

/** A sample id becomes a file name: it must be one plain path segment. */
export function checkSampleId(sampleId: string): void {
  if (
    sampleId.length === 0 ||
    sampleId.length > MAX_SAMPLE_ID_LENGTH ||
    sampleId === "." ||
    sampleId === ".." ||
    /[/\\\0]/.test(sampleId) ||
    sampleId.includes(TMP_MARK)
  ) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `sample id ${JSON.stringify(sampleId.slice(0, MAX_SAMPLE_ID_LENGTH))} cannot be a file name ` +
        `(1 to ${MAX_SAMPLE_ID_LENGTH} characters, no '/', '\\', NUL or "${TMP_MARK}")`,
    );
  }
}
