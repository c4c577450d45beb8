export { parseSubject, subjectBits, subjectKey, EraseTooWideError, DEFAULT_SUBJECT_SCOPE, MAX_USER_LENGTH, type PrivacySubject, type AddressSubject, type UserSubject, type SubjectInput, type SubjectScope, type SubjectKind } from '@ipwatch/core/dataSubject';
export { PERSONAL_TABLES, type PersonalTable } from './catalog.ts';
export { exportSubject, exportToCsv, previewSubject, type PrivacyExport, type PrivacyPreview, type ExportedTable, type ExportOptions } from './export.ts';
export { eraseSubject, pendingErasures, InjectedCrash, type EraseOptions, type EraseStep, type ErasureReport } from './erase.ts';
export { listAudit, recordAudit, newAuditId, type AuditEntry, type AuditAction, type AuditOutcome, type ListAuditQuery } from './audit.ts';
export type { PersonalStateHolder, HeldItem, Remaining } from '@ipwatch/core/dataSubject';
