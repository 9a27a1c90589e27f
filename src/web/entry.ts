/**
 * The browser bundle's entry (scripts/build-web.mjs builds it into dist/web/graft.js, an ES
 * module): the library on files held in memory, plus the tfjs it was built with, so a page loads
 * and runs the converted model with the same tfjs (one copy, with graft's layers registered).
 */
import * as tf from '@tensorflow/tfjs';
import '../layers';
import { convertInMemory, inspectInMemory } from '../convert/memory';
import { formatError, GraftError, isGraftError } from '../errors';
import { VERSION } from '../version';

export { convertInMemory, inspectInMemory, formatError, GraftError, isGraftError, VERSION, tf };
export type { ConvertInMemoryOptions, ConvertedModel, MemoryFile, InspectResult } from '../convert/memory';
export type { ConvertReport } from '../convert/report';

const api = { convertInMemory, inspectInMemory, formatError, GraftError, isGraftError, VERSION, tf };

// For pages that load the bundle with a plain <script type="module"> and no import of their own.
const page = globalThis as unknown as { window?: { graft?: typeof api } };
if (page.window) page.window.graft = api;
