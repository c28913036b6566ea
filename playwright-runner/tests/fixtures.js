'use strict';

// Shared fixtures for the todo specs. The api's state is shared by every run against the same
// stack, so each test works only on items it created itself (unique titles) and removes them
// afterwards through web's /api proxy.

const base = require('@playwright/test');
const { expect } = base;

let counter = 0;

/** A title no other test (or earlier run) will have used. */
function uniqueTitle(label) {
  const rand = Math.random().toString(36).slice(2, 8);
  counter += 1;
  return `e2e ${label} ${Date.now().toString(36)}-${rand}-${counter}`;
}

const test = base.test.extend({
  /** Ids created during a test; deleted through the proxy when it ends (pass or fail). */
  createdIds: async ({ request }, use) => {
    const ids = [];
    await use(ids);
    for (const id of ids) {
      const res = await request.delete(`/api/items/${id}`);
      // 404: the test already deleted it.
      expect([204, 404], `cleanup DELETE /api/items/${id}`).toContain(res.status());
    }
  },
});

/** The `li` of the item whose title is `title` (titles are unique per test). */
function itemRow(page, title) {
  return page.locator('#items > li').filter({ has: page.locator('span.title', { hasText: title }) });
}

/** GET /api/items through web's proxy, asserting the response is a JSON array. */
async function apiItems(request) {
  const res = await request.get('/api/items');
  expect(res.status(), 'GET /api/items').toBe(200);
  expect(res.headers()['content-type'] || '').toContain('application/json');
  const items = await res.json();
  expect(Array.isArray(items), 'GET /api/items returns an array').toBe(true);
  return items;
}

/** Fill the form and submit it with the Add button; resolves to the POST /api/items response. */
async function submitTitle(page, title) {
  await page.locator('#new-title').fill(title);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/items'),
    page.locator('#add').click(),
  ]);
  return response;
}

module.exports = { test, expect, uniqueTitle, itemRow, apiItems, submitTitle };
