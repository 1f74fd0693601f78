import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { CancelJobRequest__Input as _latentfleet_v1_CancelJobRequest__Input, CancelJobRequest as _latentfleet_v1_CancelJobRequest } from './latentfleet/v1/CancelJobRequest.js';
import type { CoordinatorClient as _latentfleet_v1_CoordinatorClient, CoordinatorDefinition as _latentfleet_v1_CoordinatorDefinition } from './latentfleet/v1/Coordinator.js';
import type { GetJobRequest__Input as _latentfleet_v1_GetJobRequest__Input, GetJobRequest as _latentfleet_v1_GetJobRequest } from './latentfleet/v1/GetJobRequest.js';
import type { Job__Input as _latentfleet_v1_Job__Input, Job as _latentfleet_v1_Job } from './latentfleet/v1/Job.js';
import type { JobSpecFile__Input as _latentfleet_v1_JobSpecFile__Input, JobSpecFile as _latentfleet_v1_JobSpecFile } from './latentfleet/v1/JobSpecFile.js';
import type { ListJobsRequest__Input as _latentfleet_v1_ListJobsRequest__Input, ListJobsRequest as _latentfleet_v1_ListJobsRequest } from './latentfleet/v1/ListJobsRequest.js';
import type { ListJobsResponse__Input as _latentfleet_v1_ListJobsResponse__Input, ListJobsResponse as _latentfleet_v1_ListJobsResponse } from './latentfleet/v1/ListJobsResponse.js';
import type { SourceFileChunk__Input as _latentfleet_v1_SourceFileChunk__Input, SourceFileChunk as _latentfleet_v1_SourceFileChunk } from './latentfleet/v1/SourceFileChunk.js';
import type { SubmitJobChunk__Input as _latentfleet_v1_SubmitJobChunk__Input, SubmitJobChunk as _latentfleet_v1_SubmitJobChunk } from './latentfleet/v1/SubmitJobChunk.js';
import type { SubmitJobResponse__Input as _latentfleet_v1_SubmitJobResponse__Input, SubmitJobResponse as _latentfleet_v1_SubmitJobResponse } from './latentfleet/v1/SubmitJobResponse.js';
import type { WatchJobRequest__Input as _latentfleet_v1_WatchJobRequest__Input, WatchJobRequest as _latentfleet_v1_WatchJobRequest } from './latentfleet/v1/WatchJobRequest.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  latentfleet: {
    v1: {
      CancelJobRequest: MessageTypeDefinition<_latentfleet_v1_CancelJobRequest__Input, _latentfleet_v1_CancelJobRequest>
      Coordinator: SubtypeConstructor<typeof grpc.Client, _latentfleet_v1_CoordinatorClient> & { service: _latentfleet_v1_CoordinatorDefinition }
      GetJobRequest: MessageTypeDefinition<_latentfleet_v1_GetJobRequest__Input, _latentfleet_v1_GetJobRequest>
      Job: MessageTypeDefinition<_latentfleet_v1_Job__Input, _latentfleet_v1_Job>
      JobSpecFile: MessageTypeDefinition<_latentfleet_v1_JobSpecFile__Input, _latentfleet_v1_JobSpecFile>
      JobState: EnumTypeDefinition
      ListJobsRequest: MessageTypeDefinition<_latentfleet_v1_ListJobsRequest__Input, _latentfleet_v1_ListJobsRequest>
      ListJobsResponse: MessageTypeDefinition<_latentfleet_v1_ListJobsResponse__Input, _latentfleet_v1_ListJobsResponse>
      SourceFileChunk: MessageTypeDefinition<_latentfleet_v1_SourceFileChunk__Input, _latentfleet_v1_SourceFileChunk>
      SubmitJobChunk: MessageTypeDefinition<_latentfleet_v1_SubmitJobChunk__Input, _latentfleet_v1_SubmitJobChunk>
      SubmitJobResponse: MessageTypeDefinition<_latentfleet_v1_SubmitJobResponse__Input, _latentfleet_v1_SubmitJobResponse>
      WatchJobRequest: MessageTypeDefinition<_latentfleet_v1_WatchJobRequest__Input, _latentfleet_v1_WatchJobRequest>
    }
  }
}

