// Original file: proto/latentfleet/v1/coordinator.proto


export interface ListJobsRequest__Input {
}

export interface ListJobsRequest {
}
