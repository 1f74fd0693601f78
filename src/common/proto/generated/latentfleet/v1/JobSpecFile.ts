// Original file: proto/latentfleet/v1/coordinator.proto


export interface JobSpecFile__Input {
  'name'?: (string);
  'content'?: (Buffer | Uint8Array | string);
  'output'?: (string);
  'overwrite'?: (boolean);
  'max_failed'?: (string);
}

export interface JobSpecFile {
  'name': (string);
  'content': (Buffer);
  'output': (string);
  'overwrite': (boolean);
  'max_failed': (string);
}
