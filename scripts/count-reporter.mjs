// node:test reporter that writes one JSON line {passed, failed, skipped} at the end.
// Suites are not counted; only tests.
export default async function* countReporter(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    if (event.data.details?.type === 'suite') {
      // A suite that failed in its hooks has no failing test of its own: count it.
      if (event.type === 'test:fail' && event.data.details?.error?.failureType === 'hookFailed') failed++;
      continue;
    }
    if (event.data.skip || event.data.todo) skipped++;
    else if (event.type === 'test:pass') passed++;
    else failed++;
  }
  yield JSON.stringify({ passed, failed, skipped }) + '\n';
}
