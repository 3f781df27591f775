// Loaded before every test file (vitest setupFiles): the file's PostgreSQL databases go when it ends.
import { afterAll } from 'vitest';
import { dropTestDatabases } from './store.js';

afterAll(dropTestDatabases, 120_000);
