import * as fs from 'fs';
import * as path from 'path';

/** The package's version, read from its package.json (one level above both src/ and dist/). */
export const VERSION: string = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
