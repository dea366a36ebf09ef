// The JSON shapes of the registry's HTTP API are defined by the client package, shared by the server.
export type * from '@plugline/registry-client';
