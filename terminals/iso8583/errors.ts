// The one error type of the ISO 8583 layer. It always says where: which field (or the
// MTI, or a bitmap) and the byte offset in the packed message (without the 2-byte
// length prefix), so a log line is enough to find the fault in a hex dump.

export type IsoErrorField = number | 'mti' | 'bitmap' | 'secondary bitmap';

export class IsoError extends Error {
  override readonly name = 'IsoError';

  constructor(
    /** The field at fault: its number, or 'mti', 'bitmap', 'secondary bitmap'. */
    readonly field: IsoErrorField,
    /**
     * Byte offset in the packed message: of the offending byte when there is one
     * (a bad character), else of the element that could not be read (a length
     * prefix, a truncated field, the first trailing byte). For field 48's TLV it is
     * the offset inside field 48's data unless the caller passes a base offset.
     */
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${typeof field === 'number' ? `field ${field}` : field} at offset ${offset}: ${reason}`);
  }
}
