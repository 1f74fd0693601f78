// Original file: proto/latentfleet/v1/coordinator.proto


export interface SourceFileChunk__Input {
  'path'?: (string);
  'data'?: (Buffer | Uint8Array | string);
  'last'?: (boolean);
}

export interface SourceFileChunk {
  'path': (string);
  'data': (Buffer);
  'last': (boolean);
}
