// Original file: proto/latentfleet/v1/coordinator.proto


export interface CancelJobRequest__Input {
  'job_id'?: (string);
}

export interface CancelJobRequest {
  'job_id': (string);
}
