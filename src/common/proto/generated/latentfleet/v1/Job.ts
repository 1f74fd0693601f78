// Original file: proto/latentfleet/v1/coordinator.proto

import type { JobState__Input as _latentfleet_v1_JobState__Input, JobState as _latentfleet_v1_JobState } from '../../latentfleet/v1/JobState.js';
import type { Long } from '@grpc/proto-loader';

export interface Job__Input {
  'job_id'?: (string);
  'state'?: (_latentfleet_v1_JobState__Input);
  'model'?: (string);
  'output'?: (string);
  'samples_total'?: (number | string | Long);
  'samples_done'?: (number | string | Long);
  'samples_failed'?: (number | string | Long);
  'shards_total'?: (number | string | Long);
  'shards_published'?: (number | string | Long);
  'shards_done'?: (number | string | Long);
  'rows_rejected'?: (number | string | Long);
  'images_per_second'?: (number | string);
  'eta_seconds'?: (number | string);
  'created_at_ms'?: (number | string | Long);
  'finished_at_ms'?: (number | string | Long);
  'error'?: (string);
  'shards_reused'?: (number | string | Long);
  'samples_reused'?: (number | string | Long);
  'max_failed'?: (string);
}

export interface Job {
  'job_id': (string);
  'state': (_latentfleet_v1_JobState);
  'model': (string);
  'output': (string);
  'samples_total': (string);
  'samples_done': (string);
  'samples_failed': (string);
  'shards_total': (string);
  'shards_published': (string);
  'shards_done': (string);
  'rows_rejected': (string);
  'images_per_second': (number);
  'eta_seconds': (number);
  'created_at_ms': (string);
  'finished_at_ms': (string);
  'error': (string);
  'shards_reused': (string);
  'samples_reused': (string);
  'max_failed': (string);
}
