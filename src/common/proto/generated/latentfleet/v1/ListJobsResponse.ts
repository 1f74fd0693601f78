// Original file: proto/latentfleet/v1/coordinator.proto

import type { Job__Input as _latentfleet_v1_Job__Input, Job as _latentfleet_v1_Job } from '../../latentfleet/v1/Job.js';

export interface ListJobsResponse__Input {
  'jobs'?: (_latentfleet_v1_Job__Input)[];
}

export interface ListJobsResponse {
  'jobs': (_latentfleet_v1_Job)[];
}
