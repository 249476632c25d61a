export type ClusterErrorCode =
  | 'STALE_FENCING_TOKEN'
  | 'NOT_MASTER'
  | 'UNKNOWN_EVENT_TYPE'
  | 'SNAPSHOT_MISSING'
  | 'NODE_UNREACHABLE'
  | 'FLOW_GONE'
  | 'REQUEST_TIMEOUT'
  | 'NOT_STARTED'
  | 'INVALID_EVENT'
  | 'MIXED_SHARDS';

/** Errors of the cluster lib carry a code; the edge maps it to SIP/HTTP (e.g. FLOW_GONE -> 430). */
export class ClusterError extends Error {
  constructor(
    readonly code: ClusterErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ClusterError';
  }
}
