/**
 * Requests whose bytes do not decode as the method's message (not protobuf, or a field of the wrong wire
 * type). grpc-js answers them INTERNAL, the code for a server that is itself broken; the fault is the
 * client's, so they get INVALID_ARGUMENT, naming the message type.
 *
 * The decoder's error becomes a marker value that the handler wrapper sees first, for unary and
 * server-streaming methods. A client-streaming handler receives it as one of the messages and checks it
 * itself with isBadRequest.
 */
import {
  type handleServerStreamingCall,
  type handleUnaryCall,
  type MethodDefinition,
  type ServiceDefinition,
  status,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";

const BAD_REQUEST = Symbol("undecodable gRPC request");

export interface BadRequest {
  readonly [BAD_REQUEST]: string;
}

export function isBadRequest(value: unknown): value is BadRequest {
  return typeof value === "object" && value !== null && BAD_REQUEST in value;
}

/** What is wrong with it, for the status details. */
export function badRequestMessage(value: BadRequest): string {
  return value[BAD_REQUEST];
}

function invalidArgument(details: string) {
  return { name: "Error", message: details, code: status.INVALID_ARGUMENT, details };
}

/** The service with decoders that turn an undecodable request into INVALID_ARGUMENT (see above). */
export function checkRequests(
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
): { definition: ServiceDefinition; implementation: UntypedServiceImplementation } {
  const defs: Record<string, MethodDefinition<unknown, unknown>> = {};
  const impls: UntypedServiceImplementation = { ...implementation };
  for (const [name, method] of Object.entries(definition) as [string, MethodDefinition<unknown, unknown>][]) {
    const typeName = messageTypeName(method) ?? `${name} request`;
    defs[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          const bad: BadRequest = {
            [BAD_REQUEST]: `the request is not a valid ${typeName} message (${why})`,
          };
          return bad;
        }
      },
    };
    const handler = implementation[name];
    if (handler === undefined || method.requestStream) continue;
    if (method.responseStream) {
      const h = handler as handleServerStreamingCall<unknown, unknown>;
      impls[name] = ((call) => {
        if (isBadRequest(call.request)) call.emit("error", invalidArgument(badRequestMessage(call.request)));
        else h(call);
      }) as handleServerStreamingCall<unknown, unknown>;
    } else {
      const h = handler as handleUnaryCall<unknown, unknown>;
      impls[name] = ((call, callback) => {
        if (isBadRequest(call.request)) callback(invalidArgument(badRequestMessage(call.request)));
        else h(call, callback);
      }) as handleUnaryCall<unknown, unknown>;
    }
  }
  return { definition: defs, implementation: impls };
}

/** The request message's name, from the descriptor @grpc/proto-loader attaches (when it does). */
function messageTypeName(method: MethodDefinition<unknown, unknown>): string | undefined {
  const requestType = (method as { requestType?: { type?: { name?: unknown } } }).requestType;
  const name = requestType?.type?.name;
  return typeof name === "string" ? name : undefined;
}
