// Original file: proto/latentfleet/v1/worker.proto

import type { Long } from '@grpc/proto-loader';

export interface GenerateRequest__Input {
  'prompt'?: (string);
  'negative_prompt'?: (string);
  'seed'?: (number | string | Long);
  'steps'?: (number);
  'guidance_scale'?: (number | string);
  'scheduler'?: (string);
  'width'?: (number);
  'height'?: (number);
  'count'?: (number);
}

export interface GenerateRequest {
  'prompt': (string);
  'negative_prompt': (string);
  'seed': (string);
  'steps': (number);
  'guidance_scale': (number);
  'scheduler': (string);
  'width': (number);
  'height': (number);
  'count': (number);
}
