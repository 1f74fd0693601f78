// Original file: proto/latentfleet/v1/worker.proto

import type { Long } from '@grpc/proto-loader';

export interface GeneratedImage__Input {
  'seed'?: (number | string | Long);
  'png'?: (Buffer | Uint8Array | string);
  'seconds'?: (number | string);
}

export interface GeneratedImage {
  'seed': (string);
  'png': (Buffer);
  'seconds': (number);
}
