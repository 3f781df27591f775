// Types of format.js for the TypeScript tests that import it (the browser loads the .js).
export function euro(cents: number | null | undefined): string;
export function count(n: number | null | undefined): string;
export function romeDate(instant: string | number | Date): string;
export function romeTime(instant: string | number | Date): string;
export function romeDateTime(instant: string | number | Date): string;
export function day(iso: string | null | undefined): string;
export function month(ym: string | null | undefined): string;
export function romeIsoDate(instant: string | number | Date): string;
export function previousMonth(isoDay: string): string;
