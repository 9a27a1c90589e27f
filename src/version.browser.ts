/** The browser bundle's version.ts: the version is written in at build time (scripts/build-web.mjs). */
declare const GRAFT_VERSION: string;

export const VERSION: string = GRAFT_VERSION;
