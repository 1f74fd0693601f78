// Original file: proto/latentfleet/v1/coordinator.proto


export interface GetJobRequest__Input {
  'job_id'?: (string);
}

export interface GetJobRequest {
  'job_id': (string);
}
