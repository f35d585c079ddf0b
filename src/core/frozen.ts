// Frozen copies of records, for what goes into logged events and session state.
//
// `Object.freeze({ ...record, ...more })` is the obvious spelling, but V8 (Node 20) gives each
// frozen spread copy a hidden class of its own, allocated in the old generation: a hidden class
// and its descriptors (~180 bytes) of old-generation garbage per copy. Under the typing load that
// was one per edit and the largest share of what filled the old generation between major
// collections (docs/benchmarks.md, "2026-12-03, afternoon: the p99 was the major collections"). A copy made
// with Object.assign into an empty object takes the usual, shared hidden classes. The lint rule
// `no-restricted-syntax` keeps the spread spelling out of `Object.freeze(...)`.
export function frozenCopy<T extends object>(record: T): Readonly<T>;
export function frozenCopy<T extends object, U extends object>(
  record: T,
  overrides: U,
): Readonly<Omit<T, keyof U> & U>;
export function frozenCopy(record: object, overrides?: object): object {
  return Object.freeze(Object.assign({}, record, overrides));
}
