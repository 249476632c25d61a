import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bindListeners, openOrClose } from './sockets';

describe('openOrClose', () => {
  it('closes what was opened when opening fails, and passes the error on; leaves it open otherwise', async () => {
    const calls: string[] = [];
    await assert.rejects(
      openOrClose(
        async () => {
          calls.push('open');
          throw new Error('EADDRINUSE');
        },
        async () => void calls.push('close'),
      ),
      /EADDRINUSE/,
    );
    assert.deepEqual(calls, ['open', 'close']);
    calls.length = 0;
    await openOrClose(
      async () => void calls.push('open'),
      async () => void calls.push('close'),
    );
    assert.deepEqual(calls, ['open']);
  });
});

describe('bindListeners', () => {
  const l = (port: number, optional?: boolean) => ({ transport: 'udp', address: '::1', port, ...(optional ? { optional } : {}) });
  const failOn = (port: number) => async (x: { port: number }) => {
    if (x.port === port) throw new Error(`port ${port} taken`);
  };

  it('skips an optional listener that fails, naming it, and binds the rest in order', async () => {
    const bound: number[] = [];
    const skipped: string[] = [];
    await bindListeners(
      [l(1), l(2, true), l(3)],
      async (x) => {
        await failOn(2)(x);
        bound.push(x.port);
      },
      (name, e) => skipped.push(`${name}: ${e.message}`),
    );
    assert.deepEqual(bound, [1, 3]);
    assert.deepEqual(skipped, ['udp ::1:2: port 2 taken']);
  });

  it('stops at a listener that is not optional, with its error', async () => {
    const bound: number[] = [];
    await assert.rejects(
      bindListeners(
        [l(1), l(2), l(3)],
        async (x) => {
          await failOn(2)(x);
          bound.push(x.port);
        },
        () => assert.fail('not optional'),
      ),
      /port 2 taken/,
    );
    assert.deepEqual(bound, [1]);
  });
});
