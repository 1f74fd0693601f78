// Original file: proto/latentfleet/v1/coordinator.proto


export interface WatchJobRequest__Input {
  'job_id'?: (string);
}

export interface WatchJobRequest {
  'job_id': (string);
}
