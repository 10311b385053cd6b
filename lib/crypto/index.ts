/**
 * Public API of the crypto library: certificates (private CA, validation of
 * operator-supplied files), Diffie-Hellman parameters and random secrets.
 * Why a barrel: callers import from one place and the internals can move.
 */
export { CryptoError, isCryptoError } from './errors.ts';
export type { CryptoCheck } from './errors.ts';
export { certificateFingerprint } from './fingerprint.ts';
export { makeCa, makeServerCert } from './ca.ts';
export type { CaOptions, CertificateAuthority, RsaKeyBits, ServerCertOptions, ServerCertificate } from './ca.ts';
export { readCertificateFiles, validateCertificateFiles } from './cert-files.ts';
export type { CertificateFileContents, CertificateFilePaths, ValidatedCertificate } from './cert-files.ts';
export { FFDHE2048_PRIME_HEX, checkDhParams, encodeDhParams, makeDhParams, parseDhParams } from './dhparam.ts';
export type { DhParamOptions, DhParams } from './dhparam.ts';
export { isHubCryptoKey, makeHubCryptoKey, makePassword, makeProxyToken, rotateHubCryptoKey } from './tokens.ts';
