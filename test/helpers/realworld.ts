import * as fs from 'fs';
import * as path from 'path';

/** The shared folder of real framework files, beside the project; absent on some machines. */
export const REALWORLD_DIR = path.resolve(__dirname, '..', '..', '..', 'shared', 'realworld');

/** Absolute path of a real-world file, or undefined when the folder is absent (tests then skip). */
export function realworld(rel: string): string | undefined {
  const p = path.join(REALWORLD_DIR, rel);
  return fs.existsSync(p) ? p : undefined;
}

export const FIXTURES_DIR = path.resolve(__dirname, '..', '..', 'fixtures');

export function fixture(rel: string): string {
  return path.join(FIXTURES_DIR, rel);
}
