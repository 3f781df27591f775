// The policy for new passwords (issue 12, finding 4), after NIST SP 800-63B §5.1.1.2:
// a minimum length, not a commonly used password, not the user name; no composition
// rules. The common passwords are the 49,233 of @zxcvbn-ts/language-common
// ('passwords-common', drawn from public breach corpora), compared case-insensitively.
import { dictionary } from '@zxcvbn-ts/language-common';

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 256;

let common: Set<string> | null = null;
function commonPasswords(): Set<string> {
  common ??= new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  return common;
}

/** Why a new password is refused, or null when it is acceptable. */
export function passwordProblem(password: string, username: string, minLength = MIN_PASSWORD_LENGTH): string | null {
  const length = [...password].length;
  if (length < minLength) return `the password must have at least ${minLength} characters (it has ${length})`;
  if (length > MAX_PASSWORD_LENGTH) return `the password must have at most ${MAX_PASSWORD_LENGTH} characters`;
  const lower = password.toLowerCase();
  if (commonPasswords().has(lower)) return 'the password is a commonly used one; choose another';
  if (username.length >= 3 && lower.includes(username.toLowerCase())) return 'the password must not contain the user name';
  if (/^(.)\1*$/u.test(password)) return 'the password must not be one character repeated';
  return null;
}

export class PasswordPolicyError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'PasswordPolicyError';
  }
}

/** Throws PasswordPolicyError with the reason when the password is refused. */
export function assertPasswordAcceptable(password: string, username: string, minLength = MIN_PASSWORD_LENGTH): void {
  const problem = passwordProblem(password, username, minLength);
  if (problem) throw new PasswordPolicyError(problem);
}
