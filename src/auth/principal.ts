// Who is calling. Every read and write is checked against a principal.
export type Role = 'terminal' | 'entity' | 'finance' | 'admin';

export type Principal =
  // secretVersion: the fingerprint of the API secret the token was issued under (tokens.ts `sv`).
  | { role: 'terminal'; terminalId: string; counterId: string; secretVersion?: string }
  | { role: 'entity'; username: string; entityId: string }
  | { role: 'finance'; username: string }
  | { role: 'admin'; username: string };

export function principalName(p: Principal): string {
  return p.role === 'terminal' ? `terminal:${p.terminalId}` : `${p.role}:${p.username}`;
}
