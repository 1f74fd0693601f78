// Original file: proto/latentfleet/v1/worker.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { DrainRequest__Input as _latentfleet_v1_DrainRequest__Input, DrainRequest as _latentfleet_v1_DrainRequest } from '../../latentfleet/v1/DrainRequest.js';
import type { DrainResponse__Input as _latentfleet_v1_DrainResponse__Input, DrainResponse as _latentfleet_v1_DrainResponse } from '../../latentfleet/v1/DrainResponse.js';
import type { GenerateRequest__Input as _latentfleet_v1_GenerateRequest__Input, GenerateRequest as _latentfleet_v1_GenerateRequest } from '../../latentfleet/v1/GenerateRequest.js';
import type { GeneratedImage__Input as _latentfleet_v1_GeneratedImage__Input, GeneratedImage as _latentfleet_v1_GeneratedImage } from '../../latentfleet/v1/GeneratedImage.js';
import type { InfoRequest__Input as _latentfleet_v1_InfoRequest__Input, InfoRequest as _latentfleet_v1_InfoRequest } from '../../latentfleet/v1/InfoRequest.js';
import type { WorkerInfo__Input as _latentfleet_v1_WorkerInfo__Input, WorkerInfo as _latentfleet_v1_WorkerInfo } from '../../latentfleet/v1/WorkerInfo.js';

export interface WorkerClient extends grpc.Client {
  Drain(argument: _latentfleet_v1_DrainRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_DrainResponse>): grpc.ClientUnaryCall;
  Drain(argument: _latentfleet_v1_DrainRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_latentfleet_v1_DrainResponse>): grpc.ClientUnaryCall;
  Drain(argument: _latentfleet_v1_DrainRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_DrainResponse>): grpc.ClientUnaryCall;
  Drain(argument: _latentfleet_v1_DrainRequest__Input, callback: grpc.requestCallback<_latentfleet_v1_DrainResponse>): grpc.ClientUnaryCall;
  drain(argument: _latentfleet_v1_DrainRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_DrainResponse>): grpc.ClientUnaryCall;
  drain(argument: _latentfleet_v1_DrainRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_latentfleet_v1_DrainResponse>): grpc.ClientUnaryCall;
  drain(argument: _latentfleet_v1_DrainRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_DrainResponse>): grpc.ClientUnaryCall;
  drain(argument: _latentfleet_v1_DrainRequest__Input, callback: grpc.requestCallback<_latentfleet_v1_DrainResponse>): grpc.ClientUnaryCall;
  
  Generate(argument: _latentfleet_v1_GenerateRequest__Input, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_latentfleet_v1_GeneratedImage>;
  Generate(argument: _latentfleet_v1_GenerateRequest__Input, options?: grpc.CallOptions): grpc.ClientReadableStream<_latentfleet_v1_GeneratedImage>;
  generate(argument: _latentfleet_v1_GenerateRequest__Input, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_latentfleet_v1_GeneratedImage>;
  generate(argument: _latentfleet_v1_GenerateRequest__Input, options?: grpc.CallOptions): grpc.ClientReadableStream<_latentfleet_v1_GeneratedImage>;
  
  Info(argument: _latentfleet_v1_InfoRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_WorkerInfo>): grpc.ClientUnaryCall;
  Info(argument: _latentfleet_v1_InfoRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_latentfleet_v1_WorkerInfo>): grpc.ClientUnaryCall;
  Info(argument: _latentfleet_v1_InfoRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_WorkerInfo>): grpc.ClientUnaryCall;
  Info(argument: _latentfleet_v1_InfoRequest__Input, callback: grpc.requestCallback<_latentfleet_v1_WorkerInfo>): grpc.ClientUnaryCall;
  info(argument: _latentfleet_v1_InfoRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_WorkerInfo>): grpc.ClientUnaryCall;
  info(argument: _latentfleet_v1_InfoRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_latentfleet_v1_WorkerInfo>): grpc.ClientUnaryCall;
  info(argument: _latentfleet_v1_InfoRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_latentfleet_v1_WorkerInfo>): grpc.ClientUnaryCall;
  info(argument: _latentfleet_v1_InfoRequest__Input, callback: grpc.requestCallback<_latentfleet_v1_WorkerInfo>): grpc.ClientUnaryCall;
  
}

export interface WorkerHandlers extends grpc.UntypedServiceImplementation {
  Drain: grpc.handleUnaryCall<_latentfleet_v1_DrainRequest, _latentfleet_v1_DrainResponse__Input>;
  
  Generate: grpc.handleServerStreamingCall<_latentfleet_v1_GenerateRequest, _latentfleet_v1_GeneratedImage__Input>;
  
  Info: grpc.handleUnaryCall<_latentfleet_v1_InfoRequest, _latentfleet_v1_WorkerInfo__Input>;
  
}

export interface WorkerDefinition extends grpc.ServiceDefinition {
  Drain: MethodDefinition<_latentfleet_v1_DrainRequest__Input, _latentfleet_v1_DrainResponse__Input, _latentfleet_v1_DrainRequest, _latentfleet_v1_DrainResponse>
  Generate: MethodDefinition<_latentfleet_v1_GenerateRequest__Input, _latentfleet_v1_GeneratedImage__Input, _latentfleet_v1_GenerateRequest, _latentfleet_v1_GeneratedImage>
  Info: MethodDefinition<_latentfleet_v1_InfoRequest__Input, _latentfleet_v1_WorkerInfo__Input, _latentfleet_v1_InfoRequest, _latentfleet_v1_WorkerInfo>
}
