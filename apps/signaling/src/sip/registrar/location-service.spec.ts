import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryLocationService, bindingKey, type ContactBindingData, type RegistrationRemovedReason } from './location-service';

function binding(contact: string, over: Partial<ContactBindingData> = {}): ContactBindingData {
  return { aor: 'sip:a@example.com', contact, expiresAt: 10_000, q: 1, node: 'n1', callId: 'c', cseq: 1, ...over };
}

describe('InMemoryLocationService', () => {
  it('adds, refreshes and removes bindings of an AOR; lookups are best q first and skip expired ones', async () => {
    let now = 1000;
    const ls = new InMemoryLocationService(() => now);
    const removed: Array<[string, RegistrationRemovedReason]> = [];
    ls.onRemoved((b, why) => removed.push([b.contact, why]));
    await ls.update('sip:a@example.com', { upsert: [binding('sip:a@1', { q: 0.5 }), binding('sip:a@2', { expiresAt: 2000 })], remove: [] });
    assert.equal(ls.size, 2);
    assert.equal(ls.aorCount, 1);
    assert.deepEqual(
      ls.lookup('sip:a@example.com').map((b) => b.contact),
      ['sip:a@2', 'sip:a@1'],
    );
    now = 1500;
    await ls.update('sip:a@example.com', { upsert: [binding('sip:a@1', { q: 0.5, cseq: 2 })], remove: [] });
    const a1 = ls.lookup('sip:a@example.com').find((b) => b.contact === 'sip:a@1')!;
    assert.equal(a1.registeredAt, 1000);
    assert.equal(a1.updatedAt, 1500);
    assert.equal(ls.size, 2);
    now = 2000;
    assert.deepEqual(
      ls.lookup('sip:a@example.com').map((b) => b.contact),
      ['sip:a@1'],
      'an expired binding is not returned',
    );
    assert.equal(ls.sweep(), 1);
    assert.deepEqual(removed, [['sip:a@2', 'expired']]);
    await ls.update('sip:a@example.com', { upsert: [], remove: ['sip:a@1'] });
    assert.deepEqual(removed[1], ['sip:a@1', 'unregistered']);
    assert.equal(ls.size, 0);
    assert.equal(ls.aorCount, 0);
  });

  it('lists every live binding and removes a whole AOR', async () => {
    const ls = new InMemoryLocationService(() => 0);
    await ls.update('sip:b@example.com', { upsert: [binding('sip:b@1', { aor: 'sip:b@example.com' })], remove: [] });
    await ls.update('sip:a@example.com', { upsert: [binding('sip:a@1'), binding('sip:a@2')], remove: [] });
    assert.deepEqual(
      ls.list().map((b) => b.aor),
      ['sip:a@example.com', 'sip:a@example.com', 'sip:b@example.com'],
    );
    assert.equal(await ls.remove('sip:a@example.com', undefined, 'forced'), 2);
    assert.equal(await ls.remove('sip:a@example.com', undefined, 'forced'), 0);
    assert.equal(ls.size, 1);
  });

  it('keys bindings by instance and reg-id, else instance, else contact (as libs/cluster does)', () => {
    assert.equal(bindingKey({ contact: 'sip:x', instance: '<urn:uuid:1>', regId: 2 }), '<urn:uuid:1>#2');
    assert.equal(bindingKey({ contact: 'sip:x', instance: '<urn:uuid:1>' }), '<urn:uuid:1>');
    assert.equal(bindingKey({ contact: 'sip:x' }), 'sip:x');
  });
});
