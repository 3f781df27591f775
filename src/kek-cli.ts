// `tserve kek rotate`: every terminal's TMK re-sealed under a new KEK (docs/keys.md).
// Run with the switch stopped: a running switch keeps the old KEK in memory.
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { rotateKek } from './auth/kek-rotation.js';
import { KEK_FILE_NAME, loadKeys, readKekFile, sameKey } from './auth/keys.js';
import { openStore } from './bootstrap.js';
import type { Config } from './config.js';
import { requireExisting } from './store/existing.js';
import { storeHolder } from './store/in-use.js';

export function addKekCommands(program: Command, loadConfig: () => Config): void {
  const kek = program.command('kek').description('the key-encryption key (KEK) that seals the terminal master keys in the database');
  kek
    .command('rotate')
    .description('re-seal every terminal master key under a new KEK in one transaction; with the switch stopped, then start it with the new KEK')
    .requiredOption('--new-kek-file <file>', 'the new KEK: 64 hex characters, mode 0600 (production: outside the data directory)')
    .action(async (opts: { newKekFile: string }) => {
      const config = loadConfig();
      // Before the keys: demo mode would generate key files into a mistyped data directory.
      await requireExisting(config);
      // The current KEK, from where the switch takes it; the new one checked as a key file.
      const current = loadKeys(config);
      const newKek = readKekFile('--new-kek-file', opts.newKekFile, config);
      if (sameKey(newKek, current.jwtKey)) throw new Error('the new KEK is the JWT signing key: generate a key of its own (openssl rand -hex 32)');
      const holder = await storeHolder(config);
      if (holder) {
        throw new Error(`${holder}. Stop the switch (every instance) first: a running switch keeps the old KEK in memory and would seal new terminal keys under it`);
      }
      const store = await openStore(config);
      const r = await rotateKek(store, current.kek, newKek, 'cli').finally(() => store.close());
      console.log(`re-sealed ${r.terminals} terminal keys under the new KEK (fingerprint ${r.to}; the old KEK, ${r.from}, opens none of them now)`);
      if (config.mode === 'demo' && !config.kekHex && !config.kekFile) {
        // Demo mode keeps its KEK in the data directory: the new one replaces it there.
        const file = path.join(config.dataDir, KEK_FILE_NAME);
        writeFileSync(`${file}.new`, newKek.toString('hex') + '\n', { mode: 0o600 });
        renameSync(`${file}.new`, file);
        console.log(`${file} now holds the new KEK: start the switch as before`);
      } else {
        console.log(
          `now start the switch with the new KEK: TSERVE_KEK_FILE=${path.resolve(opts.newKekFile)} (or its 64 hex characters in TSERVE_KEK), ` +
            'on every instance; an instance started with the old KEK refuses to start. Keep the old KEK until the switch runs on the new one, then destroy it',
        );
      }
    });
}
