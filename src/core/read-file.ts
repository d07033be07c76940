/**
 * Reading a file a person named: a failure becomes an io error that names the file and says why
 * (no such file, a directory, permission denied) with the next step, the same from every caller.
 */
import { promises as fsp } from 'node:fs';
import { KmsEnvelopeError } from './errors';
import { displayPath, escapeControls } from './paths';

/** The io error for a file that could not be read (`err`: what node:fs threw). */
export function cannotRead(file: string, err: unknown): KmsEnvelopeError {
  const e = err as NodeJS.ErrnoException;
  const why =
    e.code === 'ENOENT'
      ? 'no such file'
      : e.code === 'EACCES'
        ? 'permission denied'
        : e.code === 'EISDIR'
          ? 'it is a directory'
          : e.message;
  return new KmsEnvelopeError('io', `Cannot read ${displayPath(file)}: ${escapeControls(why)}.`, {
    hint: 'Check the path and its permissions.',
    details: { file },
    cause: err,
  });
}

export async function readText(file: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw cannotRead(file, err);
  }
}

export async function readBytes(file: string): Promise<Buffer> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    throw cannotRead(file, err);
  }
}
