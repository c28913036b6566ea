'use strict';

const { test, expect } = require('@playwright/test');

test.describe('health endpoints', () => {
  test('web /health returns JSON status ok', async ({ request }) => {
    const res = await request.get('/health');
    expect(res.status()).toBe(200);
    expect(res.headers()['content-type'] || '').toContain('application/json');
    const body = await res.json();
    expect(body).toMatchObject({ status: 'ok' });
  });

  test('web proxies /api-health to the api /health', async ({ request }) => {
    const res = await request.get('/api-health');
    expect(res.status()).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ status: 'ok', service: 'api' });
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(typeof body.revision).toBe('string');
  });
});
