// SIP transactions (RFC 3261 section 17, RFC 6026): pure state machines on an injected scheduler.
export { DEFAULT_TIMER_VALUES, SystemScheduler, ManualScheduler, type Scheduler, type TimerRef, type TransactionTimerValues } from './timers';
export { MAGIC_COOKIE, isRfc3261Branch, serverKey, clientKeyOfRequest, clientKeyOfResponse } from './keys';
export {
  Transaction,
  ClientTransaction,
  ServerTransaction,
  InviteClientTransaction,
  NonInviteClientTransaction,
  InviteServerTransaction,
  NonInviteServerTransaction,
  type TransactionChannel,
  type TransactionState,
  type TransactionKind,
  type TerminationReason,
  type ClientTransactionUser,
  type ServerTransactionUser,
  type TransactionContext,
} from './transaction';
export { TransactionLayer, createCancel, type TransactionLayerOptions, type TransactionCreateError, type CreateResult } from './layer';
