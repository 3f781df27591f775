// Rules for debt positions published by entities (domain.md §6): what makes a
// position acceptable before the store takes it.
import { checkNoticeNumber } from '../domain/notice.js';
import type { DebtPositionInputT } from './inputs.js';
import type { NewPosition } from '../store/types.js';
import type { ErrorCode } from './errors.js';
import type { Payments } from './service.js';

const FISCAL_CODE_FORMAT = /^([A-Z0-9]{16}|\d{11})$/;

export interface PositionError {
  code: ErrorCode;
  detail: string;
  /** Index of the payment option at fault, when one is. */
  option?: number;
}

export function positionRowErrors(input: DebtPositionInputT, entityId: string, payments: Payments): PositionError[] {
  const errors: PositionError[] = [];
  const err = (code: ErrorCode, detail: string, option?: number) => errors.push({ code, detail, ...(option === undefined ? {} : { option }) });
  const entity = payments.entity(entityId);
  if (!entity) return [{ code: 'NOT_FOUND', detail: `unknown entity ${entityId}` }];
  const service = payments.service(input.service.toUpperCase());
  if (!service) return [{ code: 'SERVICE_UNKNOWN', detail: `unknown service ${input.service}` }];
  if (service.entityId !== entityId) err('FORBIDDEN', `service ${service.code} belongs to ${service.entityId}, not ${entityId}`);
  if (service.amountKind !== 'L') err('UNSUPPORTED', `service ${service.code} is not paid against debt positions (amount kind ${service.amountKind})`);
  // Format only: entities' data in the wild often fails the check character (domain.md §4.3).
  if (!FISCAL_CODE_FORMAT.test(input.debtorFiscalCode.toUpperCase())) err('INVALID_FISCAL_CODE', 'debtorFiscalCode must be 16 letters/digits or 11 digits');
  const needsLookup = service.identifierKind !== 'notice' && service.identifierKind !== 'fine_plate';
  input.options.forEach((o, i) => {
    const where = `option ${i + 1}`;
    const n = checkNoticeNumber(o.noticeNumber);
    if (!n.ok) err('INVALID_NOTICE_NUMBER', `${where}: ${n.reason}`, i);
    else if (n.auxDigit === 3 && entity.segregationCode && n.notice.slice(1, 3) !== entity.segregationCode) {
      err('INVALID_NOTICE_NUMBER', `${where}: segregation code ${n.notice.slice(1, 3)} is not ${entityId}'s (${entity.segregationCode})`, i);
    }
    if (needsLookup && !o.lookupKey) err('FORMAT', `${where}: lookupKey is required for ${service.code} (identified by ${service.identifierKind})`, i);
    if (o.kind === 'instalment' && o.instalmentNo === undefined) err('FORMAT', `${where}: instalmentNo is required for an instalment`, i);
    if ((o.ruleParams?.rule ?? null) !== service.rule) {
      err('FORMAT', service.rule ? `${where}: ruleParams for rule '${service.rule}' are required` : `${where}: ${service.code} takes no ruleParams`, i);
    }
  });
  return errors;
}

export function toNewPosition(input: DebtPositionInputT, entityId: string): NewPosition {
  return {
    entityId,
    serviceCode: input.service.toUpperCase(),
    externalRef: input.externalRef,
    debtorCf: input.debtorFiscalCode.toUpperCase(),
    debtorName: input.debtorName ?? null,
    description: input.description,
    validUntil: input.validUntil ?? null,
    options: input.options.map((o) => ({
      noticeNumber: o.noticeNumber.replace(/\s/g, ''),
      lookupKey: o.lookupKey?.toUpperCase() ?? null,
      kind: o.kind,
      instalmentNo: o.instalmentNo ?? null,
      amountCents: o.amount,
      dueDate: o.dueDate,
      description: o.description,
      ruleParams: o.ruleParams ?? null,
    })),
  };
}
