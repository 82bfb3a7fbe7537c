#!/bin/sh
# Copies the web app's two libraries from node_modules (after `npm ci` here) into vendor/, as
# they are: the app has no build step, the browser loads these ES modules directly. A test
# (tests/web.rs) checks that vendor/ matches what package-lock.json installs.
set -eu
cd "$(dirname "$0")"
mkdir -p vendor
cp node_modules/preact/dist/preact.module.js vendor/preact.module.js
cp node_modules/preact/hooks/dist/hooks.module.js vendor/hooks.module.js
cp node_modules/htm/dist/htm.module.js vendor/htm.module.js
