#!/usr/bin/env node
// The `pegasus` command (copied to dist/bin/pegasus.cjs by scripts/bundle.mjs; issue 17): loads the CommonJS bundle of the CLI
// with V8's code cache, so a run does not parse and compile ~1 MB of JavaScript again each time it starts (about 50 ms of a short
// run on the 2-core VM; Node 20 has no module.enableCompileCache). The cache is written by the build's warm-up run; when it is
// missing, or V8 rejects it (another Node version, other V8 flags, a changed bundle), the bundle compiles as usual and a fresh
// cache is written when the run exits, if the folder is writable: through a temporary file and a rename, so that runs at the
// same time never read half a cache.
'use strict';
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const vm = require('node:vm');

const bundle = path.join(__dirname, 'pegasus-main.cjs');
const cacheFile = path.join(__dirname, 'pegasus-main.cache');
let cachedData;
try {
  cachedData = fs.readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
// The bundle's extra parameter stands for its one dynamic import (the live view, an ES module): code run by vm.Script
// cannot call import() itself without an experimental flag, so this file, loaded by Node as usual, does it.
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname, __pegasusImport) {${fs.readFileSync(bundle, 'utf8')}\n})`, {
  filename: bundle,
  cachedData,
});
if (cachedData === undefined || script.cachedDataRejected === true) {
  process.once('exit', () => {
    const temporary = `${cacheFile}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(temporary, script.createCachedData());
      fs.renameSync(temporary, cacheFile);
    } catch {
      fs.rmSync(temporary, { force: true });
    }
  });
}
const main = new Module(bundle, module);
main.filename = bundle;
main.paths = Module._nodeModulePaths(__dirname);
const base = pathToFileURL(bundle);
script.runInThisContext()(main.exports, Module.createRequire(bundle), main, bundle, __dirname, (specifier) => import(new URL(specifier, base).href));
