#!/usr/bin/env node
// The `livereview` command. Built from src/cli by `npm run build`.
import '../dist/src/cli/main.js';
