import { GraftError } from '../errors';
import { printable } from './bytes';
import type { DType } from './tensor';
import { budgetError, PICKLE_WORK_FLOOR, PICKLE_WORK_PER_BYTE } from './budget';

/**
 * A restricted pickle reader. It interprets the pickle opcodes (protocols 0–5) as a data
 * description only: a global is resolved solely against ALLOWED below, each entry being a pure
 * JavaScript reconstruction; any other global is refused when the GLOBAL / STACK_GLOBAL / INST
 * opcode names it, so nothing from the file is ever imported or called.
 * The allow-list follows the spirit of torch's `weights_only` unpickler.
 */

// ---------------------------------------------------------------------------------------------
// Values produced by the unpickler. Python lists and tuples both become JS arrays; str → string;
// bytes → Uint8Array; int → number (bigint when outside the safe range); float → number.

/** A Python dict or collections.OrderedDict (insertion ordered, like both). */
export class PyDict {
  readonly entries = new Map<unknown, unknown>();
  /** State given by BUILD (OrderedDict instance attributes such as `_metadata`); unused. */
  attributes: unknown;
  constructor(readonly className: string = 'dict') {}
}

export class PySet {
  readonly items: unknown[] = [];
  constructor(readonly className: string = 'set') {}
}

/** An allowed but opaque object (numpy dtype/scalar/array, torch.device): kept as data only. */
export class PyObject {
  state: unknown;
  constructor(readonly className: string, readonly args: unknown[]) {}
}

/** A storage class global such as torch.FloatStorage: only says which element type a storage holds. */
export class TorchStorageType {
  constructor(readonly name: string, readonly dtype: DType | undefined, readonly elementBytes: number) {}
}

/** A torch dtype global such as torch.float32. */
export class TorchDType {
  constructor(readonly name: string) {}
}

/**
 * A storage as returned by the container's persistent_load: which blob holds it, element type,
 * element count, and (legacy views) the element offset into the root storage.
 */
export class TorchStorage {
  constructor(
    readonly key: string,
    readonly type: TorchStorageType,
    readonly numel: number,
    readonly location: string,
    readonly elementOffset = 0,
  ) {}
}

/** A tensor as described by torch._utils._rebuild_tensor(_v2): a strided view of a storage. */
export class TorchTensor {
  constructor(
    readonly storage: TorchStorage,
    readonly storageOffset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly requiresGrad: boolean,
  ) {}
}

/** A resolved, allowed global. `call` is its pure reconstruction (absent for type markers). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly call?: (args: unknown[], ctx: CallContext) => unknown,
    readonly value?: unknown,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

interface CallContext {
  corrupt(reason: string): GraftError;
  /** Counts `units` of work (elements copied) against the pickle's budget. */
  charge(units: number): void;
}

// ---------------------------------------------------------------------------------------------
// The allow-list.

const STORAGE_TYPES: Record<string, [DType | undefined, number]> = {
  FloatStorage: ['float32', 4],
  DoubleStorage: ['float64', 8],
  HalfStorage: ['float16', 2],
  BFloat16Storage: ['bfloat16', 2],
  LongStorage: ['int64', 8],
  IntStorage: ['int32', 4],
  ShortStorage: ['int16', 2],
  CharStorage: ['int8', 1],
  ByteStorage: ['uint8', 1],
  BoolStorage: ['bool', 1],
  UntypedStorage: ['uint8', 1],
  // Safe to describe but graft has no dtype for them: tensors on these are skipped later.
  ComplexFloatStorage: [undefined, 8],
  ComplexDoubleStorage: [undefined, 16],
  QInt8Storage: [undefined, 1],
  QUInt8Storage: [undefined, 1],
  QInt32Storage: [undefined, 4],
};

const TORCH_DTYPES = [
  'float32', 'float', 'float64', 'double', 'float16', 'half', 'bfloat16', 'int64', 'long', 'int32', 'int',
  'int16', 'short', 'int8', 'uint8', 'bool', 'complex64', 'complex128', 'uint16', 'uint32', 'uint64',
  'float8_e4m3fn', 'float8_e5m2',
];

type Reconstruct = (args: unknown[], ctx: CallContext) => unknown;

function isIntArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isSafeInteger(x));
}

const rebuildTensorV2: Reconstruct = (args, ctx) => {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof TorchStorage)) throw ctx.corrupt('_rebuild_tensor_v2 called without a storage');
  ctx.charge((Array.isArray(size) ? size.length : 0) + (Array.isArray(stride) ? stride.length : 0));
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw ctx.corrupt(`_rebuild_tensor_v2 has an invalid storage offset ${typeof offset === 'number' ? offset : typeof offset}`);
  if (!isIntArray(size) || !isIntArray(stride) || size.length !== stride.length) {
    throw ctx.corrupt('_rebuild_tensor_v2 has invalid size/stride tuples');
  }
  return new TorchTensor(storage, offset, [...size], [...stride], requiresGrad === true);
};

const rebuildParameter: Reconstruct = (args, ctx) => {
  if (!(args[0] instanceof TorchTensor)) throw ctx.corrupt('_rebuild_parameter called without a tensor');
  return args[0];
};

const REBUILD_FUNCTIONS = new Set(['torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor', 'torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state']);
const TENSOR_TYPES = new Set(['torch.Tensor', 'torch.nn.parameter.Parameter', 'torch._tensor.Tensor']);

/** _rebuild_from_type_v2(func, new_type, args, state): allowed only to wrap our own rebuilders. */
const rebuildFromType: Reconstruct = (args, ctx) => {
  const [func, newType, funcArgs] = args;
  if (!(func instanceof PyGlobal) || !REBUILD_FUNCTIONS.has(func.qualifiedName) || !func.call) {
    throw ctx.corrupt('_rebuild_from_type_v2 wraps a function other than a tensor rebuild');
  }
  if (!(newType instanceof PyGlobal) || !TENSOR_TYPES.has(newType.qualifiedName)) {
    const name = newType instanceof PyGlobal ? newType.qualifiedName : typeof newType;
    throw new GraftError('UNSAFE', `refused tensor subclass '${printable(name)}' in _rebuild_from_type_v2`);
  }
  if (!Array.isArray(funcArgs)) throw ctx.corrupt('_rebuild_from_type_v2 arguments are not a tuple');
  ctx.charge(funcArgs.length);
  return func.call(funcArgs, ctx);
};

function makeDict(className: string): Reconstruct {
  return (args, ctx) => {
    const d = new PyDict(className);
    const init = args[0];
    if (init === undefined) return d;
    if (!Array.isArray(init)) throw ctx.corrupt(`${className} initialiser is not a list of pairs`);
    ctx.charge(init.length);
    for (const pair of init) {
      if (!Array.isArray(pair) || pair.length !== 2) throw ctx.corrupt(`${className} initialiser holds a non-pair`);
      d.entries.set(pair[0], pair[1]);
    }
    return d;
  };
}

function makeSet(className: string): Reconstruct {
  return (args, ctx) => {
    const s = new PySet(className);
    if (Array.isArray(args[0])) {
      ctx.charge(args[0].length);
      pushAll(s.items, args[0]);
    }
    return s;
  };
}

/** Appends without spreading: `push(...items)` overflows the call stack for long lists. */
function pushAll(target: unknown[], items: readonly unknown[]): void {
  for (const x of items) target.push(x);
}

const opaque = (className: string): Reconstruct => (args) => new PyObject(className, args);

/** `_codecs.encode(text, 'latin1')`: how protocol-2 pickles spell bytes (numpy scalars do). */
const codecsEncode: Reconstruct = (args, ctx) => {
  const [text, encoding] = args;
  if (typeof text !== 'string') throw ctx.corrupt('_codecs.encode of a non-string');
  ctx.charge(text.length);
  const enc = typeof encoding === 'string' ? encoding.toLowerCase().replace('_', '-') : 'utf-8';
  if (enc === 'latin1' || enc === 'latin-1' || enc === 'iso-8859-1') {
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c > 255) throw ctx.corrupt('_codecs.encode: character outside latin-1');
      out[i] = c;
    }
    return out;
  }
  if (enc === 'utf-8' || enc === 'utf8') return new TextEncoder().encode(text);
  throw ctx.corrupt(`_codecs.encode with unknown encoding '${typeof encoding === 'string' ? printable(encoding, 40) : typeof encoding}'`);
};

const ALLOWED = new Map<string, { call?: Reconstruct; value?: unknown }>();
function allow(qualified: string, call?: Reconstruct, value?: unknown): void {
  ALLOWED.set(qualified, { call, value });
}

allow('collections.OrderedDict', makeDict('OrderedDict'));
allow('builtins.dict', makeDict('dict'));
allow('__builtin__.dict', makeDict('dict'));
for (const m of ['builtins', '__builtin__']) {
  allow(`${m}.set`, makeSet('set'));
  allow(`${m}.frozenset`, makeSet('frozenset'));
}
allow('_codecs.encode', codecsEncode);
allow('torch._utils._rebuild_tensor_v2', (args, ctx) => rebuildTensorV2(args, ctx));
allow('torch._utils._rebuild_tensor', (args, ctx) => rebuildTensorV2([...args.slice(0, 4), false], ctx));
allow('torch._utils._rebuild_parameter', rebuildParameter);
allow('torch._utils._rebuild_parameter_with_state', rebuildParameter);
allow('torch._tensor._rebuild_from_type_v2', rebuildFromType);
allow('torch._tensor._rebuild_from_type', rebuildFromType);
allow('torch.Size', (args, ctx) => {
  if (args.length === 0) return [];
  if (Array.isArray(args[0])) ctx.charge(args[0].length);
  if (!isIntArray(args[0])) throw ctx.corrupt('torch.Size of a non-integer tuple');
  return [...args[0]];
});
allow('torch.Tensor');
allow('torch._tensor.Tensor');
allow('torch.nn.parameter.Parameter', rebuildParameter);
allow('torch.device', opaque('torch.device'));
for (const [name, [dtype, bytes]] of Object.entries(STORAGE_TYPES)) {
  const t = new TorchStorageType(name, dtype, bytes);
  allow(`torch.${name}`, undefined, t);
  allow(`torch.storage.${name}`, undefined, t);
}
for (const name of TORCH_DTYPES) allow(`torch.${name}`, undefined, new TorchDType(name));
// numpy scalars and arrays appear beside state dicts (best accuracy, RNG state); kept opaque.
for (const m of ['numpy.core.multiarray', 'numpy._core.multiarray']) {
  allow(`${m}.scalar`, opaque('numpy.scalar'));
  allow(`${m}._reconstruct`, opaque('numpy.ndarray'));
}
allow('numpy.dtype', opaque('numpy.dtype'));
allow('numpy.ndarray', opaque('numpy.ndarray'));

/** Known globals refused with a specific explanation. */
function refusal(qualified: string): GraftError {
  const mod = qualified.slice(0, qualified.lastIndexOf('.'));
  const shown = printable(qualified);
  if (qualified === 'torch.storage._load_from_bytes') {
    return new GraftError('UNSAFE', `refused pickle global '${shown}': it runs torch.load recursively on embedded bytes`);
  }
  if (mod.startsWith('__torch__')) {
    return new GraftError('UNSAFE', `refused pickle global '${shown}': this is a TorchScript archive (torch.jit.save) of a whole model, not a state dict; save model.state_dict() with torch.save instead`);
  }
  if (mod.startsWith('torch.nn.modules') || mod === 'torch.nn' || mod.startsWith('torch.nn.') || mod === '__main__') {
    return new GraftError('UNSAFE', `refused pickle global '${shown}': the file is a whole pickled model (torch.save(model)), whose classes graft will not import; save model.state_dict() instead`);
  }
  if (/^torch\._utils\._rebuild_(qtensor|sparse|nested|device_tensor|meta|wrapper)/.test(qualified)) {
    return new GraftError('UNSUPPORTED', `pickle global '${shown}' (quantized, sparse, nested or device-specific tensors) is not supported`);
  }
  return new GraftError('UNSAFE', `refused pickle global '${shown}': only tensors and plain containers are unpickled (if this is a whole pickled model, save model.state_dict() instead)`);
}

/** Resolves a global against the allow-list, or throws UNSAFE naming it. */
export function resolveGlobal(module: string, name: string): PyGlobal {
  const qualified = `${module}.${name}`;
  const entry = ALLOWED.get(qualified);
  if (!entry) throw refusal(qualified);
  return new PyGlobal(module, name, entry.call, entry.value);
}

// ---------------------------------------------------------------------------------------------
// The virtual machine.

export interface UnpickleOptions {
  /** For error messages. */
  file: string;
  /** What the container makes of a persistent id (storages). Absent: persistent ids are CORRUPT. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Where to start in `bytes`. */
  offset?: number;
  maxMemo?: number;
  maxStack?: number;
}

export interface UnpickleResult {
  value: unknown;
  /** Offset just past the STOP opcode (legacy PyTorch files hold several pickles in a row). */
  end: number;
}

/**
 * Raised when the pickle runs past the end of the given bytes. Callers that read a file in a
 * growing window catch it and retry with more bytes; otherwise it becomes CORRUPT.
 */
export class PickleTruncated extends Error {}

const DEFAULT_MAX_MEMO = 1 << 22;
const DEFAULT_MAX_STACK = 1 << 20;
/** Longest integer accepted from LONG1/LONG4 (bytes): far beyond any real int64 value. */
const MAX_LONG_BYTES = 64;
/** Longest INT/LONG text accepted (digits); Python itself caps int parsing at 4300 digits. */
const MAX_INT_TEXT = 4300;

export function unpickle(bytes: Uint8Array, options: UnpickleOptions): UnpickleResult {
  return new Unpickler(bytes, options).run();
}

class Unpickler {
  private pos: number;
  private readonly view: DataView;
  private stack: unknown[] = [];
  private readonly metastack: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly maxMemo: number;
  private readonly maxStack: number;
  private depth = 0;
  private readonly ctx: CallContext;
  /** Work done so far (opcodes, plus elements and bytes copied) and the most allowed. */
  private work = 0;
  private readonly maxWork: number;

  constructor(private readonly bytes: Uint8Array, private readonly options: UnpickleOptions) {
    this.pos = options.offset ?? 0;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.maxMemo = options.maxMemo ?? DEFAULT_MAX_MEMO;
    this.maxStack = options.maxStack ?? DEFAULT_MAX_STACK;
    this.ctx = { corrupt: (reason) => this.corrupt(reason), charge: (units) => this.charge(units) };
    this.maxWork = Math.max(PICKLE_WORK_FLOOR, (bytes.length - this.pos) * PICKLE_WORK_PER_BYTE);
  }

  charge(units: number): void {
    this.work += units;
    if (this.work > this.maxWork) {
      throw budgetError(this.options.file, `pickle data makes more than ${this.maxWork} units of work (objects built and elements copied) from ${this.bytes.length - (this.options.offset ?? 0)} bytes`, `${PICKLE_WORK_PER_BYTE} units per pickle byte`);
    }
  }

  corrupt(reason: string): GraftError {
    return new GraftError('CORRUPT', `pickle data is malformed: ${reason}`, { file: this.options.file });
  }

  private need(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw this.corrupt(`invalid length ${n}`);
    if (this.pos + n > this.bytes.length) throw new PickleTruncated(`pickle needs ${n} bytes at ${this.pos}, only ${this.bytes.length - this.pos} left`);
  }
  private u8(): number {
    this.need(1);
    return this.bytes[this.pos++];
  }
  private u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  private u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  private i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  private u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    // A length beyond the safe range can never fit in the remaining bytes anyway.
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
  private take(n: number): Uint8Array {
    this.need(n);
    this.charge(n);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  private line(): string {
    const nl = this.bytes.indexOf(0x0a, this.pos);
    if (nl < 0) throw new PickleTruncated('unterminated text line');
    const s = latin1(this.bytes.subarray(this.pos, nl));
    this.pos = nl + 1;
    return s;
  }

  private push(v: unknown): void {
    if (this.depth >= this.maxStack) throw this.corrupt(`stack deeper than ${this.maxStack} items`);
    this.stack.push(v);
    this.depth++;
  }
  private pop(): unknown {
    if (this.stack.length === 0) throw this.corrupt('stack underflow');
    this.depth--;
    return this.stack.pop();
  }
  private top(): unknown {
    if (this.stack.length === 0) throw this.corrupt('stack underflow');
    return this.stack[this.stack.length - 1];
  }
  private markPush(): void {
    if (this.depth >= this.maxStack) throw this.corrupt(`stack deeper than ${this.maxStack} items`);
    this.metastack.push(this.stack);
    this.stack = [];
    this.depth++;
  }
  /** Items pushed since the last MARK, restoring the stack below it. */
  private popMark(): unknown[] {
    const items = this.stack;
    const below = this.metastack.pop();
    if (!below) throw this.corrupt('no MARK on the stack');
    this.stack = below;
    this.depth -= items.length + 1;
    return items;
  }
  private memoPut(index: number, v: unknown): void {
    if (!this.memo.has(index) && this.memo.size >= this.maxMemo) throw this.corrupt(`memo larger than ${this.maxMemo} entries`);
    this.memo.set(index, v);
  }
  private memoGet(index: number): unknown {
    if (!this.memo.has(index)) throw this.corrupt(`memo index ${index} was never stored`);
    return this.memo.get(index);
  }
  private utf8(b: Uint8Array): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(b);
    } catch {
      throw this.corrupt('string is not valid UTF-8');
    }
  }

  private call(callable: unknown, args: unknown, opName: string): unknown {
    if (!(callable instanceof PyGlobal)) throw this.corrupt(`${opName} applied to a non-callable`);
    if (!callable.call) throw this.corrupt(`${opName} applied to '${callable.qualifiedName}', which is not callable`);
    if (!Array.isArray(args)) throw this.corrupt(`${opName} arguments are not a tuple`);
    try {
      return callable.call(args, this.ctx);
    } catch (e) {
      if (e instanceof GraftError && !e.file) throw new GraftError(e.code, e.message, { file: this.options.file });
      throw e;
    }
  }

  private global(module: string, name: string): PyGlobal {
    try {
      return resolveGlobal(module, name);
    } catch (e) {
      if (e instanceof GraftError) throw new GraftError(e.code, e.message, { file: this.options.file });
      throw e;
    }
  }

  private persistent(pid: unknown): unknown {
    if (!this.options.persistentLoad) throw this.corrupt('persistent id found but this container has no external storages');
    return this.options.persistentLoad(pid);
  }

  private setItems(target: unknown, items: unknown[]): void {
    if (!(target instanceof PyDict)) throw this.corrupt('SETITEM(S) on a non-dict');
    if (items.length % 2 !== 0) throw this.corrupt('SETITEMS with an odd number of items');
    this.charge(items.length);
    for (let i = 0; i < items.length; i += 2) target.entries.set(items[i], items[i + 1]);
  }

  private appendItems(target: unknown, items: unknown[]): void {
    if (!Array.isArray(target)) throw this.corrupt('APPEND(S) on a non-list');
    this.charge(items.length);
    for (const x of items) target.push(x);
  }

  run(): UnpickleResult {
    for (;;) {
      const op = this.u8();
      this.charge(1);
      switch (op) {
        case 0x80: { // PROTO
          const proto = this.u8();
          if (proto > 5) throw new GraftError('UNSUPPORTED', `pickle protocol ${proto} is newer than 5`, { file: this.options.file });
          break;
        }
        case 0x95: // FRAME: a length hint only
          this.u64();
          break;
        case 0x2e: // STOP
          return { value: this.pop(), end: this.pos };
        case 0x28: // MARK
          this.markPush();
          break;
        case 0x30: // POP
          if (this.stack.length === 0) this.popMark();
          else this.pop();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.push(this.top());
          break;

        // Scalars.
        case 0x4e: this.push(null); break; // NONE
        case 0x88: this.push(true); break; // NEWTRUE
        case 0x89: this.push(false); break; // NEWFALSE
        case 0x4b: this.push(this.u8()); break; // BININT1
        case 0x4d: this.push(this.u16()); break; // BININT2
        case 0x4a: this.push(this.i32()); break; // BININT
        case 0x8a: this.push(this.long(this.u8())); break; // LONG1
        case 0x8b: { // LONG4
          const n = this.i32();
          if (n < 0 || n > MAX_LONG_BYTES) throw this.corrupt(`integer of ${n} bytes`);
          this.push(this.long(n));
          break;
        }
        case 0x47: { // BINFLOAT (big-endian double)
          this.need(8);
          this.push(this.view.getFloat64(this.pos, false));
          this.pos += 8;
          break;
        }
        case 0x49: { // INT (text)
          const s = this.line().trim();
          if (s === '01') this.push(true);
          else if (s === '00') this.push(false);
          else this.push(parseIntText(s, this));
          break;
        }
        case 0x4c: // LONG (text)
          this.push(parseIntText(this.line().trim().replace(/L$/, ''), this));
          break;
        case 0x46: { // FLOAT (text)
          const v = Number(this.line().trim());
          if (Number.isNaN(v)) throw this.corrupt('bad FLOAT text');
          this.push(v);
          break;
        }

        // Strings and bytes.
        case 0x58: this.push(this.utf8(this.take(this.u32()))); break; // BINUNICODE
        case 0x8c: this.push(this.utf8(this.take(this.u8()))); break; // SHORT_BINUNICODE
        case 0x8d: this.push(this.utf8(this.take(this.u64()))); break; // BINUNICODE8
        case 0x54: { // BINSTRING (py2 str: bytes decoded as latin-1, like torch's encoding='latin1')
          const n = this.i32();
          if (n < 0) throw this.corrupt('negative BINSTRING length');
          this.push(latin1(this.take(n)));
          break;
        }
        case 0x55: this.push(latin1(this.take(this.u8()))); break; // SHORT_BINSTRING
        case 0x53: this.push(parseQuotedString(this.line(), this)); break; // STRING
        case 0x56: this.push(rawUnicodeEscape(this.line(), this)); break; // UNICODE
        case 0x42: this.push(this.take(this.u32()).slice()); break; // BINBYTES
        case 0x43: this.push(this.take(this.u8()).slice()); break; // SHORT_BINBYTES
        case 0x8e: this.push(this.take(this.u64()).slice()); break; // BINBYTES8
        case 0x96: this.push(this.take(this.u64()).slice()); break; // BYTEARRAY8
        case 0x97: // NEXT_BUFFER
        case 0x98: // READONLY_BUFFER
          throw new GraftError('UNSUPPORTED', 'pickle uses out-of-band buffers (protocol 5), which torch files never do', { file: this.options.file });

        // Containers.
        case 0x7d: this.push(new PyDict()); break; // EMPTY_DICT
        case 0x5d: this.push([]); break; // EMPTY_LIST
        case 0x29: this.push([]); break; // EMPTY_TUPLE
        case 0x8f: this.push(new PySet()); break; // EMPTY_SET
        case 0x85: this.push([this.pop()]); break; // TUPLE1
        case 0x86: { // TUPLE2
          const b = this.pop();
          const a = this.pop();
          this.push([a, b]);
          break;
        }
        case 0x87: { // TUPLE3
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          this.push([a, b, c]);
          break;
        }
        case 0x74: this.push(this.popMark()); break; // TUPLE
        case 0x6c: this.push(this.popMark()); break; // LIST
        case 0x64: { // DICT
          const items = this.popMark();
          const d = new PyDict();
          this.setItems(d, items);
          this.push(d);
          break;
        }
        case 0x91: { // FROZENSET
          const s = new PySet('frozenset');
          pushAll(s.items, this.popMark());
          this.push(s);
          break;
        }
        case 0x90: { // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof PySet)) throw this.corrupt('ADDITEMS on a non-set');
          pushAll(s.items, items);
          break;
        }
        case 0x61: { // APPEND
          const v = this.pop();
          this.appendItems(this.top(), [v]);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.popMark();
          this.appendItems(this.top(), items);
          break;
        }
        case 0x73: { // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case 0x75: { // SETITEMS
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }

        // Memo.
        case 0x71: this.memoPut(this.u8(), this.top()); break; // BINPUT
        case 0x72: this.memoPut(this.u32(), this.top()); break; // LONG_BINPUT
        case 0x94: this.memoPut(this.memo.size, this.top()); break; // MEMOIZE
        case 0x70: this.memoPut(parseIndex(this.line(), this), this.top()); break; // PUT
        case 0x68: this.push(this.memoGet(this.u8())); break; // BINGET
        case 0x6a: this.push(this.memoGet(this.u32())); break; // LONG_BINGET
        case 0x67: this.push(this.memoGet(parseIndex(this.line(), this))); break; // GET

        // Globals and construction: only allow-listed, pure reconstructions.
        case 0x63: { // GLOBAL
          const module = this.line();
          const name = this.line();
          this.push(this.global(module, name));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') throw this.corrupt('STACK_GLOBAL of non-strings');
          this.push(this.global(module, name));
          break;
        }
        case 0x69: { // INST
          const module = this.line();
          const name = this.line();
          const cls = this.global(module, name);
          this.push(this.call(cls, this.popMark(), 'INST'));
          break;
        }
        case 0x6f: { // OBJ
          const items = this.popMark();
          if (items.length === 0) throw this.corrupt('OBJ without a class');
          this.push(this.call(items[0], items.slice(1), 'OBJ'));
          break;
        }
        case 0x52: { // REDUCE
          const args = this.pop();
          const callable = this.pop();
          this.push(this.call(callable, args, 'REDUCE'));
          break;
        }
        case 0x81: { // NEWOBJ
          const args = this.pop();
          const cls = this.pop();
          this.push(this.call(cls, args, 'NEWOBJ'));
          break;
        }
        case 0x92: { // NEWOBJ_EX (keyword arguments are not used by any allowed class)
          this.pop();
          const args = this.pop();
          const cls = this.pop();
          this.push(this.call(cls, args, 'NEWOBJ_EX'));
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop();
          const obj = this.top();
          if (obj instanceof PyDict) obj.attributes = state;
          else if (obj instanceof PyObject) obj.state = state;
          else if (obj instanceof TorchTensor) {
            // Python-level tensor attributes: irrelevant to the data.
          } else throw this.corrupt('BUILD on an object that takes no state');
          break;
        }
        case 0x51: // BINPERSID
          this.push(this.persistent(this.pop()));
          break;
        case 0x50: // PERSID
          this.push(this.persistent(this.line()));
          break;
        case 0x82: case 0x83: case 0x84: // EXT1/2/4
          throw new GraftError('UNSAFE', 'refused pickle extension-registry reference (EXT opcode)', { file: this.options.file });
        default:
          throw this.corrupt(`unknown opcode 0x${op.toString(16).padStart(2, '0')} at offset ${this.pos - 1}`);
      }
    }
  }

  /** Little-endian two's complement integer of n bytes. */
  private long(n: number): number | bigint {
    const b = this.take(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

function parseIntText(s: string, vm: Unpickler): number | bigint {
  if (s.length > MAX_INT_TEXT) throw vm.corrupt(`integer text of ${s.length} characters`);
  if (!/^[-+]?\d+$/.test(s)) throw vm.corrupt(`bad integer text '${printable(s, 40)}'`);
  const v = BigInt(s);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function parseIndex(s: string, vm: Unpickler): number {
  const v = parseIntText(s.trim(), vm);
  if (typeof v !== 'number' || v < 0) throw vm.corrupt(`bad memo index '${s}'`);
  return v;
}

/** A protocol-0 STRING argument: a Python repr of a byte string, quotes included. */
function parseQuotedString(s: string, vm: Unpickler): string {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) throw vm.corrupt('STRING argument is not quoted');
  const body = s.slice(1, -1);
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0' };
  return body.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, e: string) => (e[0] === 'x' && e.length === 3 ? String.fromCharCode(parseInt(e.slice(1), 16)) : simple[e] ?? `\\${e}`));
}

/** A protocol-0 UNICODE argument (Python's raw-unicode-escape); `\U` escapes beyond U+10FFFF are damage. */
function rawUnicodeEscape(s: string, vm: Unpickler): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a?: string, b?: string) => {
    const code = parseInt((a ?? b) as string, 16);
    if (code > 0x10ffff) throw vm.corrupt(`UNICODE string holds code point 0x${code.toString(16)}, beyond U+10FFFF`);
    return String.fromCodePoint(code);
  });
}
