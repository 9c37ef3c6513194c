// driver.mjs runs one headless Chromium (Debian's /usr/bin/chromium) with a
// fake camera and microphone and drives vmrd's web page for the Go tests in
// internal/e2e/browser_test.go.
//
//   node driver.mjs '{"video":"/x/green.y4m","audio":"/x/550.wav","profile":"/tmp/p","out":"/tmp/out","name":"b1"}'
//
// It then reads one JSON command a line on stdin and answers each with one
// JSON line on stdout: {"id":N,"ok":true,"result":...} or
// {"id":N,"ok":false,"error":"..."}. Lines that do not start with '{' (none
// are written on purpose) are to be ignored by the reader. Commands:
//
//   goto {url}                     open the page
//   join {room,name,pin,lang}      fill the form by its labels and press Join
//   waitPhase {phase,timeoutMs}    wait for vmrdTest.state().phase
//   state {}                       vmrdTest.state()
//   frame {path}                   write the received video frame as PNG
//   tones {freqs,ms}               received audio levels (dB) at freqs
//   click {selector} | {role,name} click a control (role/name: accessible)
//   select {label,value}           choose an option of a labelled select
//   keys {focus,steps}             keyboard only: [{type},{press}] steps
//   visibleText {}                 the page's visible text
//   screenshot {path}              a screenshot of the page
//   close {}                       close the browser and exit
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { writeFile } from 'node:fs/promises';

const opts = JSON.parse(process.argv[2] || '{}');
const executablePath = opts.chromium || '/usr/bin/chromium';

const args = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  // Without it Chromium gathers no ICE candidates on a loopback-only host.
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];
if (opts.video) args.push('--use-file-for-fake-video-capture=' + opts.video);
if (opts.audio) args.push('--use-file-for-fake-audio-capture=' + opts.audio);

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// Playwright refuses --user-data-dir as an argument: a persistent context
// takes the (new, empty) profile folder instead.
const context = await chromium.launchPersistentContext(opts.profile, {
  executablePath,
  headless: true,
  args,
  viewport: { width: 1280, height: 900 },
  locale: opts.locale || 'nb-NO',
  permissions: ['camera', 'microphone'],
});
const page = context.pages()[0] || (await context.newPage());
const consoleLines = [];
page.on('console', (m) => {
  consoleLines.push(`${m.type()}: ${m.text()}`);
  if (consoleLines.length > 200) consoleLines.shift();
});
page.on('pageerror', (e) => consoleLines.push('pageerror: ' + e.message));
page.on('dialog', (d) => d.accept()); // "end the meeting for everyone?"

const commands = {
  async goto({ url }) {
    await page.goto(url, { waitUntil: 'load' });
    return { title: await page.title(), lang: await page.evaluate(() => document.documentElement.lang) };
  },
  async join({ room, name, pin, lang }) {
    if (lang) {
      const current = await page.evaluate(() => document.documentElement.lang);
      if (current !== lang) await page.locator('#lang-toggle').click();
    }
    const L = lang === 'en'
      ? { room: 'Meeting room (number)', name: 'Your name', pin: 'PIN (optional)', join: 'Join' }
      : { room: 'Møterom (nummer)', name: 'Navnet ditt', pin: 'PIN (valgfri)', join: 'Bli med' };
    await page.getByLabel(L.room, { exact: true }).fill(room);
    await page.getByLabel(L.name, { exact: true }).fill(name);
    await page.getByLabel(L.pin, { exact: true }).fill(pin || '');
    await page.getByRole('button', { name: L.join, exact: true }).click();
    await page.waitForFunction(() => window.vmrdTest && window.vmrdTest.state().phase !== 'joining', null, { timeout: 20000 });
    return page.evaluate(() => window.vmrdTest.state());
  },
  async waitPhase({ phase, timeoutMs }) {
    await page.waitForFunction((p) => window.vmrdTest.state().phase === p, phase, { timeout: timeoutMs || 15000 });
    return page.evaluate(() => window.vmrdTest.state());
  },
  async state() {
    return page.evaluate(() => window.vmrdTest.state());
  },
  async frame({ path }) {
    const f = await page.evaluate(() => window.vmrdTest.frame());
    if (!f) return null;
    await writeFile(path, Buffer.from(f.png.slice(f.png.indexOf(',') + 1), 'base64'));
    return { width: f.width, height: f.height, path };
  },
  async tones({ freqs, ms }) {
    return page.evaluate(([fs, d]) => window.vmrdTest.tones(fs, d), [freqs, ms || 2000]);
  },
  async click({ selector, role, name, timeoutMs }) {
    const target = selector ? page.locator(selector) : page.getByRole(role || 'button', { name, exact: true });
    await target.click({ timeout: timeoutMs || 10000 });
    return true;
  },
  async select({ label, value }) {
    await page.getByLabel(label, { exact: true }).selectOption(value);
    return true;
  },
  // keys focuses selector and then types text or presses keys, in order:
  // steps like [{"type":"1001"},{"press":"Tab"}]. It checks that the page
  // works from the keyboard alone.
  async keys({ focus, steps }) {
    if (focus) await page.locator(focus).focus();
    for (const st of steps || []) {
      if (st.type !== undefined) await page.keyboard.type(st.type);
      if (st.press) await page.keyboard.press(st.press);
    }
    return page.evaluate(() => (document.activeElement && (document.activeElement.id || document.activeElement.tagName)) || '');
  },
  async visibleText() {
    return page.evaluate(() => document.body.innerText);
  },
  async screenshot({ path }) {
    await page.screenshot({ path, fullPage: true });
    return path;
  },
  async console() {
    return consoleLines.slice();
  },
};

reply({ id: 0, ok: true, result: { ready: true, version: context.browser() ? context.browser().version() : '' } });

const rl = createInterface({ input: process.stdin });
let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  try { await context.close(); } catch (_) { /* gone */ }
  process.exit(0);
}
rl.on('close', shutdown); // the Go test went away
for await (const line of rl) {
  if (!line.trim()) continue;
  let msg;
  try { msg = JSON.parse(line); } catch (e) { reply({ id: -1, ok: false, error: 'bad json: ' + e.message }); continue; }
  if (msg.cmd === 'close') {
    reply({ id: msg.id, ok: true, result: true });
    await shutdown();
    break;
  }
  const f = commands[msg.cmd];
  if (!f) { reply({ id: msg.id, ok: false, error: 'unknown command ' + msg.cmd }); continue; }
  try {
    reply({ id: msg.id, ok: true, result: await f(msg.args || {}) });
  } catch (e) {
    reply({ id: msg.id, ok: false, error: String(e && e.message || e) });
  }
}
