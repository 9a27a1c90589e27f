/**
 * The browser bundle's inflate-file.ts: a page has no disk (nor Node's zlib), so there is no
 * temporary file to inflate into; ZipArchive inflates deflated entries in memory instead.
 */
export interface InflatedFile {
  readonly ready: Promise<void>;
  readonly done: boolean;
  readonly failure?: string;
  readonly failedOnDisk?: boolean;
  readInto(offset: number, target: Uint8Array): void;
  close(): void;
}

export function inflateToFile(): InflatedFile | undefined {
  return undefined;
}
