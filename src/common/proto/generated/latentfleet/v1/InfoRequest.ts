// Original file: proto/latentfleet/v1/worker.proto


export interface InfoRequest__Input {
}

export interface InfoRequest {
}
