#!/usr/bin/env node
// Runs the TypeScript CLI through tsx in development; the Docker image runs the compiled dist/ instead.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli.ts');
