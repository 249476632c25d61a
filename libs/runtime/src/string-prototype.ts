/**
 * Puts String.prototype back into V8's fast mode after a library has left it in dictionary mode.
 *
 * Defining a class that extends String (ioredis has one, VerbatimString, for RESP3 verbatim
 * strings) makes V8 turn String.prototype into a dictionary, and ordinary string use never turns it
 * back. While it stays so, optimized code cannot inline a string method: every `s.charCodeAt(i)`,
 * `s.slice()` or `s.indexOf()` becomes a call to a generic property lookup. In the SIP parser that
 * was about a tenth of the node's CPU per REGISTER.
 *
 * Adding a property to a String wrapper object makes V8 optimize the wrapper's prototype chain,
 * String.prototype included, which migrates it back to fast properties. Call this once every
 * module is loaded and before the hot code runs: code already optimized keeps its slow lookups.
 */
export function restoreFastStringPrototype(): void {
  const wrapper = Object('') as { probe?: number };
  wrapper.probe = 0;
}
