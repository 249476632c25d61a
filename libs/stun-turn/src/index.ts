/**
 * What the STUN and TURN services of both roles share: the STUN Binding server (port one and two
 * on a signaling node, the secondary on a media engine) and the CHANGE-REQUEST relay between the
 * two hosts, TURN credentials from the authentication provider, the listener addresses and how
 * the roles share a host, and the secrets derived from the cluster secret. The TURN front lives
 * in the signaling app, the TURN relay in the media engine.
 */
export * from './stun-server';
export * from './change-ip-relay';
export * from './turn-auth';
export * from './addresses';
export * from './secrets';
