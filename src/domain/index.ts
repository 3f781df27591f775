// The pure rules of tserve: no I/O, nothing of ours imported from outside src/domain.
export * from './money.js';
export * from './notice.js';
export * from './qr.js';
export * from './fiscal-code.js';
export * from './plate.js';
export * from './calendar.js';
export * from './multe.js';
export * from './bollo.js';
export * from './fees.js';
export * from './identifiers.js';
export * from './positions.js';
export * from './target2.js';
export * from './model.js';
export * from './text.js';
