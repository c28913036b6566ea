// @ts-check
'use strict';

// End-to-end tests for the `web` service (and, through its proxy, the `api` service).
//
// Environment:
//   BASE_URL                      required, e.g. http://web:8080 or http://127.0.0.1:8080
//   CHROMIUM_PATH                 Chromium binary (default /usr/bin/chromium, Debian's package)
//   PLAYWRIGHT_HTML_REPORT        HTML report folder   (default playwright-report)
//   PLAYWRIGHT_JUNIT_OUTPUT_FILE  JUnit XML file       (default results/junit.xml)
//   PLAYWRIGHT_OUTPUT_DIR         screenshots, traces  (default test-results)
//   CHROMIUM_SANDBOX              0/1: force Chromium's sandbox off/on (default: on unless root)
//   CI                            any non-empty value: one retry, test.only forbidden
//
// Playwright's own browser download is never used: the tests drive the system Chromium.

const { defineConfig, devices } = require('@playwright/test');

const baseURL = (process.env.BASE_URL || '').trim();
if (!baseURL) {
  throw new Error(
    'BASE_URL is not set. Point it at the running web service, e.g.\n' +
      '  BASE_URL=http://127.0.0.1:8080 npx playwright test',
  );
}
try {
  new URL(baseURL);
} catch {
  throw new Error(`BASE_URL is not a valid absolute URL: ${JSON.stringify(baseURL)}`);
}

const isCI = !!process.env.CI;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const chromiumArgs = [
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Containers get a 64 MB /dev/shm by default, too small for Chromium's shared memory.
  '--disable-dev-shm-usage',
];
// Chromium's sandbox cannot run as root, so it is only turned off there (Playwright itself
// would pass --no-sandbox unconditionally unless `chromiumSandbox` is true).
// CHROMIUM_SANDBOX=0|1 overrides, e.g. where user namespaces are not available.
const sandboxEnv = (process.env.CHROMIUM_SANDBOX || '').trim();
const chromiumSandbox = sandboxEnv ? !['0', 'false', 'no', 'off'].includes(sandboxEnv.toLowerCase()) : !isRoot;
if (!chromiumSandbox) chromiumArgs.push('--no-sandbox');

module.exports = defineConfig({
  testDir: './tests',
  outputDir: process.env.PLAYWRIGHT_OUTPUT_DIR || 'test-results',
  fullyParallel: false,
  workers: 1,
  forbidOnly: isCI,
  retries: isCI ? 1 : 0,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [
    ['list'],
    ['html', { open: 'never', outputFolder: process.env.PLAYWRIGHT_HTML_REPORT || 'playwright-report' }],
    ['junit', { outputFile: process.env.PLAYWRIGHT_JUNIT_OUTPUT_FILE || 'results/junit.xml' }],
  ],
  use: {
    baseURL,
    headless: true,
    actionTimeout: 10_000,
    navigationTimeout: 15_000,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    video: 'off',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        ...devices['Desktop Chrome'],
        launchOptions: {
          executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
          chromiumSandbox,
          args: chromiumArgs,
        },
      },
    },
  ],
});
