#!/usr/bin/env node
// `npx sluice`: registers tsx so the TypeScript CLI runs from source without a build step.
require('tsx/cjs');
require('./sluice.ts');
