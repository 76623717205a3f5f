// Drives the COIN web review page in Debian chromium (playwright-core), as a user would:
// open the phantom CT, try a host-organ-box model (refused, then started with the organ's label map and
// cancelled), Generate counterfactual, move the threshold and the margin, paint, undo/redo, save.
// Usage: node review_page.mjs <url> <ct-file-name> <artifacts-dir>
// Prints one JSON object (the numbers pytest checks) on the last line of stdout.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [url, ctName, artifacts] = process.argv.slice(2);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const result = { steps: [] };
const step = (name, extra = {}) => { result.steps.push({ name, t: Date.now(), ...extra }); };

async function count(page) {
  return Number((await page.locator('#voxel-count').textContent()).trim());
}

async function tableVoxels(page, expected, timeout = 15000) {
  // the lesion table's voxel column, summed; waits until it matches the voxel count (or times out)
  const deadline = Date.now() + timeout;
  let sum = -1;
  while (Date.now() < deadline) {
    sum = await page.evaluate(() => [...document.querySelectorAll('#lesion-table .lesion-voxels')]
      .reduce((total, td) => total + Number(td.textContent.trim()), 0));
    if (sum === expected) return sum;
    await page.waitForTimeout(200);
  }
  return sum;
}

async function waitForCountChange(page, before, what, timeout = 20000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const now = await count(page);
    if (now !== before) return now;
    await page.waitForTimeout(200);
  }
  throw new Error(`${what}: the voxel count stayed at ${before}`);
}

async function settledCount(page, quietMs = 1500, timeout = 20000) {
  // the voxel count once it has not changed for quietMs (a loaded server applies slider steps late)
  const deadline = Date.now() + timeout;
  let last = await count(page); let since = Date.now();
  while (Date.now() < deadline && Date.now() - since < quietMs) {
    await page.waitForTimeout(250);
    const now = await count(page);
    if (now !== last) { last = now; since = Date.now(); }
  }
  return last;
}

async function settledShot(page, clip, timeout = 15000) {
  // the view once two screenshots 700 ms apart are identical: a busy server streams a coarse frame first
  const deadline = Date.now() + timeout;
  let last = await page.screenshot({ clip });
  while (Date.now() < deadline) {
    await page.waitForTimeout(700);
    const now = await page.screenshot({ clip });
    if (now.equals(last)) return now;
    last = now;
  }
  return last;
}

async function openSelect(page, id) {
  // a Vuetify select: the id lands on its inner input, the field around it takes the click
  await page.locator('.v-select', { has: page.locator(id) }).click();
}

async function viewImages(page) {
  // the slice views stream as <img> elements inside the main area, one per view
  return page.evaluate(() => [...document.querySelectorAll('main img')]
    .filter((img) => img.naturalWidth > 0 && img.getBoundingClientRect().width > 50)
    .map((img) => { const r = img.getBoundingClientRect(); return { x: r.x, y: r.y, width: r.width, height: r.height }; }));
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coin-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium', headless: true, args: FLAGS, viewport: { width: 1400, height: 900 },
});
try {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(30000);
  await page.goto(url);
  await page.getByText('COIN lesion review').first().waitFor();
  step('page loaded');

  // a broken file: a message on the page, and the server keeps serving
  await page.locator('.file-entry', { hasText: 'broken.nii.gz' }).click();
  result.bad_file_message = (await page.locator('.message-error').textContent()).trim();
  step('bad file refused');

  await page.locator('.file-entry', { hasText: ctName }).click();
  await page.locator('#files-open', { hasText: ctName }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('main img').length >= 3);
  step('CT opened');

  // a host-organ-box model: the page says what it needs, and Generate gives a message, not a traceback
  await openSelect(page, '#model-select');
  await page.getByRole('option', { name: 'boxed' }).click();
  result.host_required = (await page.locator('#host-required').textContent()).trim();
  await page.locator('#generate').click();
  result.box_refused_message = (await page.locator('.message-error', { hasText: 'host organ' }).textContent()).trim();
  step('box model refused');
  // the CT's organ label map, picked with its row's organ button, and its kidney label
  await page.locator('.file-entry', { hasText: 'phantom_organs.nii.gz' }).locator('.host-pick').click();
  await page.locator('#host-path', { hasText: 'phantom_organs.nii.gz' }).waitFor();
  await openSelect(page, '#host-labels');
  result.host_labels = await page.getByRole('option').allTextContents();
  await page.getByRole('option', { name: /^label 1 / }).click();
  await page.keyboard.press('Escape');
  step('host organ chosen', { labels: result.host_labels });

  await page.getByLabel('Only slices the classifier calls abnormal').uncheck();  // a random test model: run every slice
  await page.locator('#generate').click();  // the box model starts now
  await page.locator('#cancel:not([disabled])').waitFor({ timeout: 15000 });
  await page.locator('#cancel').click();
  await page.locator('.message-info', { hasText: 'Cancelled' }).waitFor({ timeout: 20000 });
  result.cancelled_count = await count(page);
  step('cancelled');
  // the rest with the whole-slice model on every slice
  await page.locator('#host-clear').click();
  await page.locator('#host-path', { hasText: 'none' }).waitFor();
  await openSelect(page, '#model-select');
  await page.getByRole('option', { name: 'tiny' }).click();
  await page.locator('#host-required').waitFor({ state: 'detached' });

  await page.locator('#generate').click();
  await page.locator('#cancel:not([disabled])').waitFor({ timeout: 15000 });
  step('generating');
  // while the model runs, the page still answers: browse into a folder and back
  await page.locator('.file-entry', { hasText: 'other' }).click();
  await page.locator('#files-folder', { hasText: '/other' }).waitFor({ timeout: 5000 });
  await page.locator('#files-up').click();
  await page.locator('.file-entry', { hasText: ctName }).waitFor({ timeout: 5000 });
  result.responsive_while_running = await page.locator('#cancel:not([disabled])').count() === 1;
  step('browsed while running', { running: result.responsive_while_running });
  await page.locator('.message-success', { hasText: 'Counterfactual ready' }).waitFor({ timeout: 60000 });
  result.count_generated = await waitForCountChange(page, 0, 'segmentation overlay after generation');
  step('generated', { count: result.count_generated });
  result.table_generated = await tableVoxels(page, result.count_generated);
  result.table_rows = await page.locator('#lesion-table .lesion-row').count();
  await page.waitForTimeout(1500);  // let the views stream the overlay
  result.views = await viewImages(page);
  fs.mkdirSync(artifacts, { recursive: true });
  result.screenshot = path.join(artifacts, 'web_page.png');
  const axial = result.views[0];
  const clip = { x: axial.x, y: axial.y, width: axial.width, height: axial.height };
  await settledShot(page, clip);
  await page.screenshot({ path: result.screenshot });
  result.overlay_shots = {};
  let previous = await page.screenshot({ clip });
  for (const overlay of ['difference', 'counterfactual', 'image']) {
    await page.locator(`#overlay-${overlay}`).click();
    // the view re-renders and streams: wait (up to 15 s on a loaded machine) until the picture changes
    await page.waitForTimeout(1500);
    for (let i = 0; i < 27 && (await page.screenshot({ clip })).equals(previous); i += 1) {
      await page.waitForTimeout(500);
    }
    result.overlay_shots[overlay] = path.join(artifacts, `axial_${overlay}.png`);
    previous = await settledShot(page, clip);
    fs.writeFileSync(result.overlay_shots[overlay], previous);
  }
  step('overlays shown');

  const thumb = page.locator('#threshold [role=slider]');
  await thumb.focus();
  for (let i = 0; i < 3; i += 1) await page.keyboard.press('ArrowLeft');
  result.count_threshold = await waitForCountChange(page, result.count_generated, 'threshold slider');
  result.count_threshold = await settledCount(page);
  result.threshold_text = (await page.locator('#threshold-value').textContent()).trim();
  step('threshold moved', { count: result.count_threshold });
  result.table_threshold = await tableVoxels(page, result.count_threshold);

  // the mask margin: the run's (the model card's) first, then 8 steps of 0.5 mm out and back again
  result.margin_text_run = (await page.locator('#margin-value').textContent()).trim();
  const marginThumb = page.locator('#margin [role=slider]');
  await marginThumb.focus();
  for (let i = 0; i < 8; i += 1) await page.keyboard.press('ArrowRight');
  result.count_margin = await waitForCountChange(page, result.count_threshold, 'margin slider');
  result.count_margin = await settledCount(page);
  result.margin_text = (await page.locator('#margin-value').textContent()).trim();
  result.table_margin = await tableVoxels(page, result.count_margin);
  for (let i = 0; i < 8; i += 1) await page.keyboard.press('ArrowLeft');
  result.count_margin_back = await waitForCountChange(page, result.count_margin, 'margin slider back');
  result.count_margin_back = await settledCount(page);
  step('margin moved', { grown: result.count_margin, back: result.count_margin_back });

  await page.locator('#effect-paint').click();
  const box = result.views[0];
  const cx = box.x + box.width / 2; const cy = box.y + box.height / 2;
  await page.mouse.move(cx - box.width / 5, cy + box.height / 6);
  await page.mouse.down();
  for (let i = 0; i <= 20; i += 1) {
    await page.mouse.move(cx - box.width / 5 + (i * 2 * box.width) / 100, cy + box.height / 6, { steps: 2 });
  }
  await page.mouse.up();
  result.count_painted = await waitForCountChange(page, result.count_threshold, 'paint stroke');
  result.count_painted = await settledCount(page);
  step('painted', { count: result.count_painted });
  result.table_painted = await tableVoxels(page, result.count_painted);

  await page.locator('#undo').click();
  result.count_undone = await waitForCountChange(page, result.count_painted, 'undo');
  await page.locator('#redo').click();
  result.count_redone = await waitForCountChange(page, result.count_undone, 'redo');
  await page.locator('#effect-none').click();
  step('undo/redo', { undone: result.count_undone, redone: result.count_redone });

  await page.locator('#save').click();
  await page.locator('#saved').waitFor();
  result.saved = (await page.locator('#saved').textContent()).replace('Saved:', '').split(',').map((s) => s.trim());
  result.count_saved = await count(page);
  step('saved');
  await page.locator('#save').click();  // a second save must ask before replacing
  await page.locator('#overwrite-dialog').waitFor();
  await page.locator('#overwrite-no').click();
  result.second_save_asked = true;
  result.ok = true;
} catch (err) {
  result.ok = false;
  result.error = String(err && err.stack ? err.stack : err);
  try {
    const page = context.pages()[0];
    result.failure_screenshot = path.join(artifacts, 'web_page_failure.png');
    fs.mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: result.failure_screenshot });
    result.page_text = (await page.locator('nav').first().innerText()).slice(0, 2000);
  } catch { /* the page itself may be gone */ }
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
