// Original file: proto/latentfleet/v1/task.proto

import type { Long } from '@grpc/proto-loader';

export interface SampleResult__Input {
  'sample_id'?: (string);
  'index'?: (number | string | Long);
  'ok'?: (boolean);
  'file_name'?: (string);
  'error'?: (string);
  'error_code'?: (string);
}

export interface SampleResult {
  'sample_id': (string);
  'index': (string);
  'ok': (boolean);
  'file_name': (string);
  'error': (string);
  'error_code': (string);
}
