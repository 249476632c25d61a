/** Secrets the STUN and TURN services of every node derive from the cluster secret. */
import { createHmac } from 'node:crypto';

/** Secret of the change-IP relay datagrams between STUN servers (derived from the cluster secret). */
export function changeIpSecret(clusterSecret: Buffer): Buffer {
  return createHmac('sha256', clusterSecret).update('traverse stun change-ip').digest();
}

/** Secret of TURN nonces: the same on every node, so the front's nonce is valid at the engine. */
export function turnNonceSecret(clusterSecret: Buffer): Buffer {
  return createHmac('sha256', clusterSecret).update('traverse turn nonce').digest();
}
