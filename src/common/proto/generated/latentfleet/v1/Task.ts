// Original file: proto/latentfleet/v1/task.proto

import type { SampleSpec__Input as _latentfleet_v1_SampleSpec__Input, SampleSpec as _latentfleet_v1_SampleSpec } from '../../latentfleet/v1/SampleSpec.js';
import type { Long } from '@grpc/proto-loader';

export interface Task__Input {
  'job_id'?: (string);
  'shard'?: (number | string | Long);
  'model'?: (string);
  'output_dir'?: (string);
  'samples'?: (_latentfleet_v1_SampleSpec__Input)[];
  'output_format'?: (string);
}

export interface Task {
  'job_id': (string);
  'shard': (string);
  'model': (string);
  'output_dir': (string);
  'samples': (_latentfleet_v1_SampleSpec)[];
  'output_format': (string);
}
