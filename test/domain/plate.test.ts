import { describe, expect, it } from 'vitest';
import { VEHICLE_TYPES, isValidPlate, isVehicleType, normalizePlate } from '../../src/domain/plate.js';

describe('plates (domain.md §4.5)', () => {
  it.each([
    ['ab 123 cd', 'AB123CD'],
    ['AB-123-CD', 'AB123CD'],
    [' ab123cd ', 'AB123CD'],
  ])('normalizes "%s" to %s', (input, plate) => {
    expect(normalizePlate(input)).toBe(plate);
  });

  it.each([
    ['AA000AA', 'car since 1994'],
    ['ab 123 cd', 'typed with spaces'],
    ['AB12345', 'motorcycle'],
    ['XA123AB', 'trailer'],
    ['FI123456', 'old provincial plate, 8 characters'],
  ])('%s is valid (%s)', (plate) => {
    expect(isValidPlate(plate)).toBe(true);
  });

  it.each([
    ['AB123C', 'six characters'],
    ['FI1234567', 'nine characters'],
    ['1234567', 'no letter'],
    ['ABCDEFG', 'no digit'],
    ['AB_123CD', 'not a letter or digit'],
    ['', 'empty'],
  ])('%s is invalid (%s)', (plate) => {
    expect(isValidPlate(plate)).toBe(false);
  });

  it('knows the vehicle types 1 car, 2 trailer, 4 motorcycle', () => {
    expect(VEHICLE_TYPES).toEqual({ '1': 'car', '2': 'trailer', '4': 'motorcycle' });
    expect(['1', '2', '4'].every(isVehicleType)).toBe(true);
    expect(['0', '3', '5', '', 'car', 'toString'].some(isVehicleType)).toBe(false);
  });
});
