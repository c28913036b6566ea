'use strict';

const { test, expect, uniqueTitle, itemRow, apiItems, submitTitle } = require('./fixtures');

test.describe('todo page against the api', () => {
  test('page loads and shows the api status with its version', async ({ page, request }) => {
    const health = await (await request.get('/api-health')).json();

    await page.goto('/');
    await expect(page.getByRole('heading', { name: 'Todo' })).toBeVisible();
    const status = page.locator('#api-status');
    await expect(status).toHaveText(/api ok \(\d+\.\d+\.\d+[^)]*\)/);
    await expect(status).toContainText(`(${health.version})`);
    await expect(page.locator('#new-item')).toBeVisible();
  });

  test('an item created in the api is listed on the page', async ({ page, request, createdIds }) => {
    const title = uniqueTitle('listed');
    const res = await request.post('/api/items', { data: { title } });
    expect(res.status()).toBe(201);
    const item = await res.json();
    createdIds.push(item.id);
    expect(item).toMatchObject({ title, done: false });

    await page.goto('/');
    const row = page.locator(`#items > li[data-id="${item.id}"]`);
    await expect(row).toHaveCount(1);
    await expect(row.locator('span.title')).toHaveText(title);
    await expect(row.locator('input.toggle')).not.toBeChecked();
    await expect(row).not.toHaveClass(/(^|\s)done(\s|$)/);
  });

  test('adding an item shows it and persists it in the api', async ({ page, request, createdIds }) => {
    const title = uniqueTitle('add');
    await page.goto('/');
    await expect(page.locator('#api-status')).toContainText('api ok');

    const response = await submitTitle(page, title);
    expect(response.status()).toBe(201);
    const created = await response.json();
    createdIds.push(created.id);

    const row = itemRow(page, title);
    await expect(row).toHaveCount(1);
    await expect(row).toHaveAttribute('data-id', String(created.id));
    await expect(row.locator('input.toggle')).not.toBeChecked();
    // No visible error message (the element may be empty, hidden or absent).
    await expect(page.locator('#error').filter({ visible: true, hasText: /\S/ })).toHaveCount(0);

    const stored = (await apiItems(request)).find((i) => i.id === created.id);
    expect(stored).toMatchObject({ id: created.id, title, done: false });

    await page.reload();
    await expect(itemRow(page, title)).toHaveCount(1);
  });

  test('toggling an item done persists across a reload', async ({ page, request, createdIds }) => {
    const title = uniqueTitle('toggle');
    await page.goto('/');
    const created = await (await submitTitle(page, title)).json();
    createdIds.push(created.id);

    const row = itemRow(page, title);
    await expect(row).toHaveCount(1);
    await expect(row).not.toHaveClass(/(^|\s)done(\s|$)/);

    const [patch] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'PATCH' && new URL(r.url()).pathname === `/api/items/${created.id}`),
      row.locator('input.toggle').check(),
    ]);
    expect(patch.status()).toBe(200);
    await expect(row).toHaveClass(/(^|\s)done(\s|$)/);

    await expect
      .poll(async () => (await apiItems(request)).find((i) => i.id === created.id)?.done, {
        message: 'api reports the item as done',
      })
      .toBe(true);

    await page.reload();
    const reloaded = itemRow(page, title);
    await expect(reloaded).toHaveClass(/(^|\s)done(\s|$)/);
    await expect(reloaded.locator('input.toggle')).toBeChecked();
  });

  test('deleting an item removes it from the page and the api', async ({ page, request, createdIds }) => {
    const title = uniqueTitle('delete');
    await page.goto('/');
    const created = await (await submitTitle(page, title)).json();
    createdIds.push(created.id);

    const row = itemRow(page, title);
    await expect(row).toHaveCount(1);

    const [del] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'DELETE' && new URL(r.url()).pathname === `/api/items/${created.id}`),
      row.locator('button.delete').click(),
    ]);
    expect(del.status()).toBe(204);
    await expect(row).toHaveCount(0);

    await expect
      .poll(async () => (await apiItems(request)).some((i) => i.id === created.id), {
        message: 'api no longer lists the item',
      })
      .toBe(false);

    await page.reload();
    await expect(page.locator('#api-status')).toContainText('api ok');
    await expect(page.locator(`#items > li[data-id="${created.id}"]`)).toHaveCount(0);
    await expect(itemRow(page, title)).toHaveCount(0);
  });

  test('an empty title shows the api 422 error', async ({ page, request }) => {
    await page.goto('/');
    await expect(page.locator('#api-status')).toContainText('api ok');
    const before = (await apiItems(request)).length;

    // Whitespace rather than "": a `required` input would block an empty submit in the
    // browser, and the point here is the api's validation error reaching the page.
    const response = await submitTitle(page, '   ');
    expect(response.status()).toBe(422);
    const body = await response.json();
    expect(typeof body.error).toBe('string');
    expect(body.error.length).toBeGreaterThan(0);

    const error = page.locator('#error');
    await expect(error).toBeVisible();
    await expect(error).toContainText(body.error);
    expect((await apiItems(request)).filter((i) => !String(i.title).trim())).toEqual([]);
    expect((await apiItems(request)).length).toBeLessThanOrEqual(before);
  });
});
