// Original file: proto/latentfleet/v1/worker.proto


export interface DrainRequest__Input {
}

export interface DrainRequest {
}
