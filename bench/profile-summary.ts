// Prints the self-time summary of V8 CPU profiles (node --cpu-prof): by area, then the
// top functions.   node --import tsx bench/profile-summary.ts <file.cpuprofile>...
import { summariseProfile } from './lib/profile.js';

for (const file of process.argv.slice(2)) {
  const s = summariseProfile(file, 30);
  console.log(`${file}: ${s.busyMs} ms busy of ${s.totalMs} ms sampled`);
  for (const a of s.areas.slice(0, 15)) console.log(`  ${a.pctBusy.toFixed(1).padStart(5)}%  ${a.area}`);
  console.log('  top functions (self time):');
  for (const t of s.top) console.log(`  ${t.pctBusy.toFixed(1).padStart(5)}%  ${t.fn}  ${t.where}`);
}
