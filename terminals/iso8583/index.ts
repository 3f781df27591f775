// The pure ISO 8583 layer: field table, typed field values, codec, field 48 TLV and TCP
// framing. No I/O.
export * from './spec.js';
export {
  dateNotAfter,
  dateNotBefore,
  instantOf,
  monthDayOf,
  timeOfDayOf,
  transmissionAt,
  type MonthDay,
  type OriginalData,
  type TimeOfDay,
  type Totals,
  type TransmissionTime,
} from './values.js';
export * from './errors.js';
export {
  encode,
  decode,
  message,
  partialHeader,
  missingFields,
  responseMti,
  isRequestMti,
  macInput,
  macField,
  withMac,
  verifyMac,
  type IsoMessage,
  type PartialHeader,
} from './codec.js';
export * from './tlv.js';
export * from './framing.js';
