// Original file: proto/latentfleet/v1/worker.proto


export interface DrainResponse__Input {
  'tasks_released'?: (number);
}

export interface DrainResponse {
  'tasks_released': (number);
}
