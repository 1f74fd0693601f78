// Original file: proto/latentfleet/v1/worker.proto

import type { Long } from '@grpc/proto-loader';

export interface WorkerInfo__Input {
  'worker_id'?: (string);
  'model'?: (string);
  'device'?: (string);
  'batch_size'?: (number);
  'images_generated'?: (number | string | Long);
  'images_failed'?: (number | string | Long);
  'images_per_second'?: (number | string);
  'uptime_seconds'?: (number | string);
  'state'?: (string);
}

export interface WorkerInfo {
  'worker_id': (string);
  'model': (string);
  'device': (string);
  'batch_size': (number);
  'images_generated': (string);
  'images_failed': (string);
  'images_per_second': (number);
  'uptime_seconds': (number);
  'state': (string);
}
