// Original file: proto/latentfleet/v1/task.proto

import type { Long } from '@grpc/proto-loader';

export interface SampleSpec__Input {
  'sample_id'?: (string);
  'index'?: (number | string | Long);
  'row_id'?: (string);
  'prompt'?: (string);
  'negative_prompt'?: (string);
  'seed'?: (number | string | Long);
  'steps'?: (number);
  'guidance_scale'?: (number | string);
  'scheduler'?: (string);
  'width'?: (number);
  'height'?: (number);
  'source'?: (string);
}

export interface SampleSpec {
  'sample_id': (string);
  'index': (string);
  'row_id': (string);
  'prompt': (string);
  'negative_prompt': (string);
  'seed': (string);
  'steps': (number);
  'guidance_scale': (number);
  'scheduler': (string);
  'width': (number);
  'height': (number);
  'source': (string);
}
