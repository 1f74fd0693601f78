// Original file: proto/latentfleet/v1/task.proto

import type { SampleResult__Input as _latentfleet_v1_SampleResult__Input, SampleResult as _latentfleet_v1_SampleResult } from '../../latentfleet/v1/SampleResult.js';
import type { Long } from '@grpc/proto-loader';

export interface TaskResult__Input {
  'job_id'?: (string);
  'shard'?: (number | string | Long);
  'worker_id'?: (string);
  'samples'?: (_latentfleet_v1_SampleResult__Input)[];
  'delivery'?: (number);
  'seconds'?: (number | string);
  'dead_lettered'?: (boolean);
  'reused'?: (boolean);
}

export interface TaskResult {
  'job_id': (string);
  'shard': (string);
  'worker_id': (string);
  'samples': (_latentfleet_v1_SampleResult)[];
  'delivery': (number);
  'seconds': (number);
  'dead_lettered': (boolean);
  'reused': (boolean);
}
