// Text operations to and from the server's generated types (ts-proto), for tests that talk to the
// server without the SDK (which uses protobuf-es messages).
import type { TextOperation } from '../../src/gen/codereview/v1/codereview.js';
import type { TextOp } from '../../src/ot/text.js';

export function toWireOps(op: TextOp): TextOperation[] {
  return op.map((c) =>
    typeof c === 'number'
      ? { kind: { $case: 'retain' as const, value: c } }
      : typeof c === 'string'
        ? { kind: { $case: 'insert' as const, value: c } }
        : { kind: { $case: 'delete' as const, value: typeof c.d === 'number' ? c.d : [...c.d].length } },
  );
}

export function fromWireOps(ops: TextOperation[]): TextOp {
  return ops.map((o) => {
    const k = o.kind!;
    return k.$case === 'retain' ? k.value : k.$case === 'insert' ? k.value : { d: k.value };
  });
}
