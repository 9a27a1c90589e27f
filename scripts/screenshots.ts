/**
 * Screenshots of the converter page for the README: empty, after a conversion, after an error.
 * Needs the built page (npm run build) and Debian's chromium. Usage: npx tsx scripts/screenshots.ts [outDir]
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import { chromium } from 'playwright-core';
import { startWebServer } from '../src/cli/web-server';

const ROOT = path.join(__dirname, '..');
const OUT = path.resolve(process.argv[2] ?? path.join(ROOT, 'docs'));
const FIX = path.join(ROOT, 'fixtures');

async function main(): Promise<void> {
  fs.mkdirSync(OUT, { recursive: true });
  const server = await startWebServer({ root: path.join(ROOT, 'dist', 'web'), port: 0 });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 980, height: 760 }, deviceScaleFactor: 1 });
    /** The whole page, or from one section down (keeps each PNG under 200 KB). */
    const shot = async (name: string, from?: string) => {
      const file = path.join(OUT, name);
      const top = from ? await page.$eval(from, (el) => el.getBoundingClientRect().top + window.scrollY - 8) : 0;
      const height = await page.evaluate(() => document.documentElement.scrollHeight);
      await page.screenshot({ path: file, fullPage: true, clip: { x: 0, y: top, width: 980, height: height - top } });
      console.log(`${path.relative(ROOT, file)}: ${fs.statSync(file).size} bytes`);
    };
    const done = () => page.waitForFunction(() => !document.getElementById('download-section')!.hidden || !document.getElementById('error')!.hidden);

    await page.goto(server.url);
    await page.waitForSelector('body[data-ready="true"]');
    await shot('web-empty.png');

    const converted = process.env.SHOT_SOURCE ?? path.join(FIX, 'torch', 'conv_bn', 'model.pt');
    const target = process.env.SHOT_TARGET ?? path.join(FIX, 'torch', 'conv_bn', 'target.json');
    if (target) await page.setInputFiles('#target-input', target);
    await page.setInputFiles('#source-input', converted);
    await page.waitForFunction(() => !document.getElementById('inspect-section')!.hidden);
    await page.click('#convert');
    await done();
    await page.click('#try');
    await page.waitForFunction(() => /predicted in/.test(document.getElementById('try-output')!.textContent ?? ''));
    await shot('web-converted.png', '#convert-h');

    await page.goto(server.url);
    await page.waitForSelector('body[data-ready="true"]');
    await page.setInputFiles('#source-input', path.join(FIX, 'hostile', 'pt', 'evil_reduce_os_system.pt'));
    await page.waitForFunction(() => !document.getElementById('error')!.hidden);
    await shot('web-error.png');
  } finally {
    await browser.close();
    await server.close();
  }
}

void main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
