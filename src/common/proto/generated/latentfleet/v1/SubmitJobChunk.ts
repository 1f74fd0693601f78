// Original file: proto/latentfleet/v1/coordinator.proto

import type { JobSpecFile__Input as _latentfleet_v1_JobSpecFile__Input, JobSpecFile as _latentfleet_v1_JobSpecFile } from '../../latentfleet/v1/JobSpecFile.js';
import type { SourceFileChunk__Input as _latentfleet_v1_SourceFileChunk__Input, SourceFileChunk as _latentfleet_v1_SourceFileChunk } from '../../latentfleet/v1/SourceFileChunk.js';

export interface SubmitJobChunk__Input {
  'spec'?: (_latentfleet_v1_JobSpecFile__Input | null);
  'file'?: (_latentfleet_v1_SourceFileChunk__Input | null);
  'part'?: "spec"|"file";
}

export interface SubmitJobChunk {
  'spec'?: (_latentfleet_v1_JobSpecFile | null);
  'file'?: (_latentfleet_v1_SourceFileChunk | null);
  'part'?: "spec"|"file";
}
