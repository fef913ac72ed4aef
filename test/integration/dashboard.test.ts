import { existsSync } from 'node:fs';
import { chromium, type Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { api, isEmbedded, local } from './support';

/** Debian's `chromium` package; playwright-core drives it, no browser download. */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (isEmbedded() && !hasChromium)
  console.warn(`dashboard test skipped: no Chromium at ${CHROMIUM} (Debian: apt-get install chromium)`);

// The callbacks given to waitForFunction/evaluate run in the page (Playwright serialises them); the project's
// tsconfig has no DOM library, so the little they touch is declared here.
declare const document: { getElementById(id: string): { textContent: string | null } | null };
declare const window: { __pwned?: number };

const numberIn = async (page: Page, selector: string) =>
  Number(((await page.textContent(selector)) ?? '').replace(/[^0-9.]/g, '') || '0');

describe.runIf(isEmbedded())('the dashboard page of the local stack, in a real browser', () => {
  it.skipIf(!hasChromium)(
    'shows accepted events and the live tail as they flow, event data as text only (needs Chromium: apt-get install chromium)',
    async () => {
      const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
      try {
        const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
        const pageErrors: string[] = [];
        page.on('pageerror', (error) => pageErrors.push(error.message));
        await page.goto(local().dashboard);
        await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', null, {
          timeout: 15_000,
        });
        const acceptedBefore = await numberIn(page, '#accepted-total');

        // A type only this test uses, so the tail can be filtered to it; data a careless page would turn into markup.
        const type = `dashboard.check${crypto.randomUUID().slice(0, 8)}`;
        // No double quotes: the tail shows `data` as JSON, where they would be escaped.
        const hostile = '<img src=x onerror=window.__pwned=1>';
        const events = Array.from({ length: 5 }, (_, i) => ({
          type,
          source: 'dashboard-test',
          data: i === 0 ? { note: hostile } : { i },
        }));
        const posted = await api('POST', '/events', { body: { events } });
        expect(posted.status).toBe(202);
        const ids = (posted.body as { ids: string[] }).ids;

        // The accepted counter moves (waits on the DOM, no fixed sleep).
        await page.waitForFunction(
          (min) => Number((document.getElementById('accepted-total')?.textContent ?? '').replace(/[^0-9]/g, '')) >= min,
          acceptedBefore + events.length,
          { timeout: 20_000 },
        );
        // The tail, filtered by type, shows the events.
        await page.fill('#tail-type', type);
        await page.waitForFunction(
          (wanted) => {
            const text = document.getElementById('tail')?.textContent ?? '';
            return wanted.every((id) => text.includes(id));
          },
          ids,
          { timeout: 20_000 },
        );
        const tail = page.locator('#tail');
        expect(await tail.locator('tr').count()).toBe(events.length);
        // The hostile value is text in a cell: no element made of it, no handler run.
        const cells = await tail.locator('td').allTextContents();
        expect(cells.some((text) => text.includes(hostile))).toBe(true);
        expect(await page.locator('#tail img').count()).toBe(0);
        expect(await page.evaluate(() => window.__pwned)).toBeUndefined();
        // A filter on a source that matches nothing empties it.
        await page.fill('#tail-source', 'no-such-source');
        await page.waitForFunction(() => document.getElementById('tail')?.textContent?.includes('no records yet'));

        expect(pageErrors).toEqual([]);
        if (process.env.TEM_SCREENSHOT === '1') {
          await page.fill('#tail-type', '');
          await page.fill('#tail-source', '');
          await page.screenshot({ path: 'docs/dashboard.png', fullPage: true });
        }
      } finally {
        await browser.close();
      }
    },
  );
});
