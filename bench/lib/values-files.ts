// The config files the values benches seal: N services with one 16-character password each, as YAML
// and as .env (the host lines stay plaintext, the passwords are what a policy seals).
import { randomBytes } from 'node:crypto';

/** A 16-character secret, numbered so a file's values differ. */
export const value16 = (i: number) => `S${String(i).padStart(3, '0')}-${randomBytes(6).toString('hex')}`;

export function yamlFile(n: number): string {
  const lines = [`# ${n} services, one password each`, 'services:'];
  for (let i = 0; i < n; i++) lines.push(`  svc${i}:`, `    host: svc${i}.internal   # not sealed`, `    password: "${value16(i)}"`);
  return lines.join('\n') + '\n';
}

export function envFile(n: number): string {
  const lines = [`# ${n} secrets`];
  for (let i = 0; i < n; i++) lines.push(`SVC${i}_HOST=svc${i}.internal`, `SVC${i}_PASSWORD=${value16(i)}`);
  return lines.join('\n') + '\n';
}

/** The policy rule of these files: every key named like a password is sealed. */
export const PASSWORD_POLICY = 'rules:\n  - path: "**"\n    keys: [tencent:ap-guangzhou:k]\n    values: "(?i)password"\n';
