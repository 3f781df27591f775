// Minimal `--name value` / `--flag` parsing for the bench scripts.
const argv = process.argv.slice(2);

/** The value after `--name`, or undefined. */
export function arg(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  return v === undefined || v.startsWith('--') ? undefined : v;
}

/** Whether `--name` is present. */
export function flag(name: string): boolean {
  return argv.includes(`--${name}`);
}
