/**
 * A real browser for the dashboard tests: Debian's Chromium (installed with apt-get on first
 * use when missing, never downloaded from elsewhere), driven by playwright-core. Every page
 * opened is watched: a dialog (alert, confirm: what an XSS payload would open), an uncaught
 * script error, and a Content Security Policy violation are recorded, so a test can assert
 * that none happened.
 *
 * @example
 * const browser = await startBrowser();
 * const page = await browser.newPage();
 * await page.goto('http://127.0.0.1:7070/');
 * assert.deepEqual(browser.incidents, []);
 * await browser.close();
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { debianBinary } from './debian.ts';

/** Where screenshots go: kept after the run (README, "Running the tests"). */
export const SCREENSHOT_DIR = fileURLToPath(new URL('../../test-output/screenshots/', import.meta.url));

export interface TestBrowser {
  readonly context: BrowserContext;
  /** Dialogs, page errors and CSP violations seen on any page, as text. */
  readonly incidents: string[];
  newPage(): Promise<Page>;
  /** A full-page screenshot under SCREENSHOT_DIR; the file's path. */
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

export async function startBrowser(): Promise<TestBrowser> {
  const executablePath = debianBinary('chromium', 'chromium');
  const browser: Browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const incidents: string[] = [];
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return {
    context,
    incidents,
    async newPage() {
      const page = await context.newPage();
      page.on('dialog', (d) => {
        incidents.push(`dialog (${d.type()}) on ${page.url()}: ${d.message()}`);
        void d.dismiss().catch(() => undefined);
      });
      page.on('pageerror', (err) => incidents.push(`script error on ${page.url()}: ${err.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) incidents.push(`CSP on ${page.url()}: ${m.text()}`);
      });
      return page;
    },
    async screenshot(page, name) {
      const path = join(SCREENSHOT_DIR, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close().catch(() => undefined);
      await browser.close();
    },
  };
}
