import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { SampleResult__Input as _latentfleet_v1_SampleResult__Input, SampleResult as _latentfleet_v1_SampleResult } from './latentfleet/v1/SampleResult.js';
import type { SampleSpec__Input as _latentfleet_v1_SampleSpec__Input, SampleSpec as _latentfleet_v1_SampleSpec } from './latentfleet/v1/SampleSpec.js';
import type { Task__Input as _latentfleet_v1_Task__Input, Task as _latentfleet_v1_Task } from './latentfleet/v1/Task.js';
import type { TaskResult__Input as _latentfleet_v1_TaskResult__Input, TaskResult as _latentfleet_v1_TaskResult } from './latentfleet/v1/TaskResult.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  latentfleet: {
    v1: {
      SampleResult: MessageTypeDefinition<_latentfleet_v1_SampleResult__Input, _latentfleet_v1_SampleResult>
      SampleSpec: MessageTypeDefinition<_latentfleet_v1_SampleSpec__Input, _latentfleet_v1_SampleSpec>
      Task: MessageTypeDefinition<_latentfleet_v1_Task__Input, _latentfleet_v1_Task>
      TaskResult: MessageTypeDefinition<_latentfleet_v1_TaskResult__Input, _latentfleet_v1_TaskResult>
    }
  }
}

