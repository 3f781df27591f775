// Vehicle plates, for pay-by-plate services such as bollo auto (domain.md §4.5).

/** Strips what people type between groups ("AB 123 CD", "ab-123-cd") and uppercases. */
export function normalizePlate(s: string): string {
  return s.toUpperCase().replace(/[\s-]+/g, '');
}

/**
 * 7–8 letters/digits with at least one of each: covers cars since 1994 (AA000AA),
 * motorcycles (AA00000), trailers (XA000AA) and older provincial plates, while
 * rejecting what is plainly not a plate.
 */
export function isValidPlate(s: string): boolean {
  const plate = normalizePlate(s);
  return /^[A-Z0-9]{7,8}$/.test(plate) && /[A-Z]/.test(plate) && /\d/.test(plate);
}

/** Vehicle types of the bollo auto lookup. */
export const VEHICLE_TYPES = { '1': 'car', '2': 'trailer', '4': 'motorcycle' } as const;

export type VehicleType = keyof typeof VEHICLE_TYPES;

export function isVehicleType(s: string): s is VehicleType {
  return Object.hasOwn(VEHICLE_TYPES, s);
}
