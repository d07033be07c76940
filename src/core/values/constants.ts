/** Names of the sealed-values layout (README "Sealed config files"); no crypto here, so anything may import it cheaply. */

/** Armor of a file's header entry: an ESDK v2 message header and its auth tag, base64. */
export const HEADER_PREFIX = 'kmsenv:h1:';
/** Armor of one value record: IV, AES-GCM ciphertext and tag under the file's value key, base64. */
export const RECORD_PREFIX = 'kmsenv:f1:';
/** Header context entry holding the file id (base64url of 32 bytes) the value key is derived with. */
export const FILE_ID_KEY = 'kmsenv:file-id';
/** Context entry a value is bound to (a record's AAD; standalone `kmsenv:v1:` values may carry it too). */
export const PATH_KEY = 'kmsenv:path';
/** Context keys starting with this are set by kms-envelope; a policy may not set them. */
export const RESERVED_VALUES_PREFIX = 'kmsenv:';

export const isRecordToken = (v: string | undefined): v is string => !!v && v.startsWith(RECORD_PREFIX);
