// Original file: proto/latentfleet/v1/coordinator.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CancelJobRequest__Input as _latentfleet_v1_CancelJobRequest__Input, CancelJobRequest as _latentfleet_v1_CancelJobRequest } from '../../latentfleet/v1/CancelJobRequest.js';
import type { GetJobRequest__Input as _latentfleet_v1_GetJobRequest__Input, GetJobRequest as _latentfleet_v1_GetJobRequest } from '../../latentfleet/v1/GetJobRequest.js';
import type { Job__Input as _latentfleet_v1_Job__Input, Job as _latentfleet_v1_Job } from '../../latentfleet/v1/Job.js';
import type { ListJobsRequest__Input as _latentfleet_v1_ListJobsRequest__Input, ListJobsRequest as _latentfleet_v1_ListJobsRequest } from '../../latentfleet/v1/ListJobsRequest.js';
import type { ListJobsResponse__Input as _latentfleet_v1_ListJobsResponse__Input, ListJobsResponse as _latentfleet_v1_ListJobsResponse } from '../../latentfleet/v1/ListJobsResponse.js';
import type { SubmitJobChunk__Input as _latentfleet_v1_SubmitJobChunk__Input, SubmitJobChunk as _latentfleet_v1_SubmitJobChunk } from '../../latentfleet/v1/SubmitJobChunk.js';
import type { SubmitJobResponse__Input as _latentfleet_v1_SubmitJobResponse__Input, SubmitJobResponse as _latentfleet_v1_SubmitJobResponse } from '../../latentfleet/v1/SubmitJobResponse.js';
import type { WatchJobRequest__Input as _latentfleet_v1_WatchJobRequest__Input, WatchJobRequest as _latentfleet_v1_WatchJobRequest } from '../../latentfleet/v1/WatchJobRequest.js';

export interface CoordinatorClient extends grpc.Client {
  CancelJob(argument: _latentfleet_v1_CancelJobRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  CancelJob(argument: _latentfleet_v1_CancelJobRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  CancelJob(argument: _latentfleet_v1_CancelJobRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  CancelJob(argument: _latentfleet_v1_CancelJobRequest__Input, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  cancelJob(argument: _latentfleet_v1_CancelJobRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  cancelJob(argument: _latentfleet_v1_CancelJobRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  cancelJob(argument: _latentfleet_v1_CancelJobRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  cancelJob(argument: _latentfleet_v1_CancelJobRequest__Input, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  
  GetJob(argument: _latentfleet_v1_GetJobRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  GetJob(argument: _latentfleet_v1_GetJobRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  GetJob(argument: _latentfleet_v1_GetJobRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  GetJob(argument: _latentfleet_v1_GetJobRequest__Input, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  getJob(argument: _latentfleet_v1_GetJobRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  getJob(argument: _latentfleet_v1_GetJobRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  getJob(argument: _latentfleet_v1_GetJobRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  getJob(argument: _latentfleet_v1_GetJobRequest__Input, callback: grpc.requestCallback<_latentfleet_v1_Job>): grpc.ClientUnaryCall;
  
  ListJobs(argument: _latentfleet_v1_ListJobsRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_ListJobsResponse>): grpc.ClientUnaryCall;
  ListJobs(argument: _latentfleet_v1_ListJobsRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_latentfleet_v1_ListJobsResponse>): grpc.ClientUnaryCall;
  ListJobs(argument: _latentfleet_v1_ListJobsRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_ListJobsResponse>): grpc.ClientUnaryCall;
  ListJobs(argument: _latentfleet_v1_ListJobsRequest__Input, callback: grpc.requestCallback<_latentfleet_v1_ListJobsResponse>): grpc.ClientUnaryCall;
  listJobs(argument: _latentfleet_v1_ListJobsRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_ListJobsResponse>): grpc.ClientUnaryCall;
  listJobs(argument: _latentfleet_v1_ListJobsRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_latentfleet_v1_ListJobsResponse>): grpc.ClientUnaryCall;
  listJobs(argument: _latentfleet_v1_ListJobsRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_ListJobsResponse>): grpc.ClientUnaryCall;
  listJobs(argument: _latentfleet_v1_ListJobsRequest__Input, callback: grpc.requestCallback<_latentfleet_v1_ListJobsResponse>): grpc.ClientUnaryCall;
  
  SubmitJob(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_SubmitJobResponse>): grpc.ClientWritableStream<_latentfleet_v1_SubmitJobChunk__Input>;
  SubmitJob(metadata: grpc.Metadata, callback: grpc.requestCallback<_latentfleet_v1_SubmitJobResponse>): grpc.ClientWritableStream<_latentfleet_v1_SubmitJobChunk__Input>;
  SubmitJob(options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_SubmitJobResponse>): grpc.ClientWritableStream<_latentfleet_v1_SubmitJobChunk__Input>;
  SubmitJob(callback: grpc.requestCallback<_latentfleet_v1_SubmitJobResponse>): grpc.ClientWritableStream<_latentfleet_v1_SubmitJobChunk__Input>;
  submitJob(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_SubmitJobResponse>): grpc.ClientWritableStream<_latentfleet_v1_SubmitJobChunk__Input>;
  submitJob(metadata: grpc.Metadata, callback: grpc.requestCallback<_latentfleet_v1_SubmitJobResponse>): grpc.ClientWritableStream<_latentfleet_v1_SubmitJobChunk__Input>;
  submitJob(options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_SubmitJobResponse>): grpc.ClientWritableStream<_latentfleet_v1_SubmitJobChunk__Input>;
  submitJob(callback: grpc.requestCallback<_latentfleet_v1_SubmitJobResponse>): grpc.ClientWritableStream<_latentfleet_v1_SubmitJobChunk__Input>;
  
  WatchJob(argument: _latentfleet_v1_WatchJobRequest__Input, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_latentfleet_v1_Job>;
  WatchJob(argument: _latentfleet_v1_WatchJobRequest__Input, options?: grpc.CallOptions): grpc.ClientReadableStream<_latentfleet_v1_Job>;
  watchJob(argument: _latentfleet_v1_WatchJobRequest__Input, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_latentfleet_v1_Job>;
  watchJob(argument: _latentfleet_v1_WatchJobRequest__Input, options?: grpc.CallOptions): grpc.ClientReadableStream<_latentfleet_v1_Job>;
  
}

export interface CoordinatorHandlers extends grpc.UntypedServiceImplementation {
  CancelJob: grpc.handleUnaryCall<_latentfleet_v1_CancelJobRequest, _latentfleet_v1_Job__Input>;
  
  GetJob: grpc.handleUnaryCall<_latentfleet_v1_GetJobRequest, _latentfleet_v1_Job__Input>;
  
  ListJobs: grpc.handleUnaryCall<_latentfleet_v1_ListJobsRequest, _latentfleet_v1_ListJobsResponse__Input>;
  
  SubmitJob: grpc.handleClientStreamingCall<_latentfleet_v1_SubmitJobChunk, _latentfleet_v1_SubmitJobResponse__Input>;
  
  WatchJob: grpc.handleServerStreamingCall<_latentfleet_v1_WatchJobRequest, _latentfleet_v1_Job__Input>;
  
}

export interface CoordinatorDefinition extends grpc.ServiceDefinition {
  CancelJob: MethodDefinition<_latentfleet_v1_CancelJobRequest__Input, _latentfleet_v1_Job__Input, _latentfleet_v1_CancelJobRequest, _latentfleet_v1_Job>
  GetJob: MethodDefinition<_latentfleet_v1_GetJobRequest__Input, _latentfleet_v1_Job__Input, _latentfleet_v1_GetJobRequest, _latentfleet_v1_Job>
  ListJobs: MethodDefinition<_latentfleet_v1_ListJobsRequest__Input, _latentfleet_v1_ListJobsResponse__Input, _latentfleet_v1_ListJobsRequest, _latentfleet_v1_ListJobsResponse>
  SubmitJob: MethodDefinition<_latentfleet_v1_SubmitJobChunk__Input, _latentfleet_v1_SubmitJobResponse__Input, _latentfleet_v1_SubmitJobChunk, _latentfleet_v1_SubmitJobResponse>
  WatchJob: MethodDefinition<_latentfleet_v1_WatchJobRequest__Input, _latentfleet_v1_Job__Input, _latentfleet_v1_WatchJobRequest, _latentfleet_v1_Job>
}
