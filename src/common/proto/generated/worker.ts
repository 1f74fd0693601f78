import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { DrainRequest__Input as _latentfleet_v1_DrainRequest__Input, DrainRequest as _latentfleet_v1_DrainRequest } from './latentfleet/v1/DrainRequest.js';
import type { DrainResponse__Input as _latentfleet_v1_DrainResponse__Input, DrainResponse as _latentfleet_v1_DrainResponse } from './latentfleet/v1/DrainResponse.js';
import type { GenerateRequest__Input as _latentfleet_v1_GenerateRequest__Input, GenerateRequest as _latentfleet_v1_GenerateRequest } from './latentfleet/v1/GenerateRequest.js';
import type { GeneratedImage__Input as _latentfleet_v1_GeneratedImage__Input, GeneratedImage as _latentfleet_v1_GeneratedImage } from './latentfleet/v1/GeneratedImage.js';
import type { InfoRequest__Input as _latentfleet_v1_InfoRequest__Input, InfoRequest as _latentfleet_v1_InfoRequest } from './latentfleet/v1/InfoRequest.js';
import type { WorkerClient as _latentfleet_v1_WorkerClient, WorkerDefinition as _latentfleet_v1_WorkerDefinition } from './latentfleet/v1/Worker.js';
import type { WorkerInfo__Input as _latentfleet_v1_WorkerInfo__Input, WorkerInfo as _latentfleet_v1_WorkerInfo } from './latentfleet/v1/WorkerInfo.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  latentfleet: {
    v1: {
      DrainRequest: MessageTypeDefinition<_latentfleet_v1_DrainRequest__Input, _latentfleet_v1_DrainRequest>
      DrainResponse: MessageTypeDefinition<_latentfleet_v1_DrainResponse__Input, _latentfleet_v1_DrainResponse>
      GenerateRequest: MessageTypeDefinition<_latentfleet_v1_GenerateRequest__Input, _latentfleet_v1_GenerateRequest>
      GeneratedImage: MessageTypeDefinition<_latentfleet_v1_GeneratedImage__Input, _latentfleet_v1_GeneratedImage>
      InfoRequest: MessageTypeDefinition<_latentfleet_v1_InfoRequest__Input, _latentfleet_v1_InfoRequest>
      Worker: SubtypeConstructor<typeof grpc.Client, _latentfleet_v1_WorkerClient> & { service: _latentfleet_v1_WorkerDefinition }
      WorkerInfo: MessageTypeDefinition<_latentfleet_v1_WorkerInfo__Input, _latentfleet_v1_WorkerInfo>
    }
  }
}

