export type { AuthResult } from './result';
export {
  parseAuthHeader,
  serializeAuthHeader,
  getAuthParam,
  quoteAuthString,
  AUTH_HEADER_DEFAULT_MAX_LENGTH,
  AUTH_HEADER_DEFAULT_MAX_PARAMS,
  type AuthParam,
  type AuthHeaderValue,
  type AuthHeaderErrorCode,
  type AuthHeaderLimits,
} from './auth-header';
export { algorithmInfo, strongestFirst, digestHex, type DigestAlgorithm, type DigestHash, type AlgorithmInfo } from './algorithms';
export {
  parseDigestChallenge,
  parseDigestCredentials,
  digestChallengeFrom,
  digestCredentialsFrom,
  serializeDigestChallenge,
  serializeDigestCredentials,
  computeHa1,
  computeDigestResponse,
  type Qop,
  type DigestChallenge,
  type DigestCredentials,
  type DigestHeaderErrorCode,
  type DigestInput,
} from './digest';
export { NonceService, DEFAULT_NONCE_LIFETIME_MS, type NonceOptions, type NonceCheck } from './nonce';
export { NonceCountTracker, type NonceCountTrackerOptions, type NonceCountCheck } from './nonce-count';
export {
  DigestAuthenticator,
  type DigestOutcome,
  type DigestOutcomeCode,
  type DigestSuccess,
  type DigestSecret,
  type DigestServerOptions,
  type DigestRequest,
} from './server';
export { computeAuthorization, selectChallenge, challengesFromHeaders, type DigestClientInput, type DigestClientErrorCode } from './client';
