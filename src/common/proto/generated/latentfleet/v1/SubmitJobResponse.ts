// Original file: proto/latentfleet/v1/coordinator.proto


export interface SubmitJobResponse__Input {
  'job_id'?: (string);
}

export interface SubmitJobResponse {
  'job_id': (string);
}
