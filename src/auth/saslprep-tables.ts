/**
 * RFC 3454 Appendix D.2: the code points with bidirectional property "L" in Unicode 3.2 (LCat).
 * JavaScript regexes have no `\p{Bidi_Class=...}`, and today's Unicode would differ from 3.2 anyway,
 * so the table is kept as data: comma-separated base-36 numbers, in pairs of
 * (gap since the end of the previous range minus one, range length minus one).
 * Generated from the Unicode 3.2 character database (the data RFC 3454's tables were derived from);
 * test/auth/saslprep.test.ts checks every code point against an independent implementation.
 */
const D2 =
  "1t,p,6,p,1b,0,a,0,4,0,5,m,1,u,1,88,1,h,s,2l,2,8,2,6,e,1,e,4,9,0,3v,0,b,0,1,2,1,0,1,j,1,17,1,11,a," +
  "3m,7,1w,1,11,2,1,6,f,x,11,2,6,1,12,1,0,op,0,1,1g,3,3,8,3,3,0,7,9,2,c,h,1,1,7,2,1,2,l,1,6,1,0,3,3," +
  "4,2,6,1,2,1,a,0,4,1,1,2,4,b,2,6,a,5,4,1,2,l,1,6,1,1,1,1,1,1,4,2,o,3,1,0,7,9,2,2,e,0,1,6,1,0,1,2," +
  "1,l,1,6,1,1,1,4,3,3,8,0,1,1,3,0,f,0,5,9,i,1,1,7,2,1,2,l,1,6,1,1,2,3,3,1,1,0,6,1,2,1,a,0,4,1,1,2," +
  "4,a,i,0,1,5,3,2,1,3,3,1,1,0,1,1,3,1,3,2,3,7,1,2,4,1,1,1,3,2,1,2,a,0,f,b,e,2,1,7,1,2,1,m,1,9,1,4," +
  "7,3,r,1,4,9,i,1,1,7,1,2,1,m,1,9,1,4,4,0,1,4,2,1,1,1,9,1,7,0,1,1,4,9,i,1,1,7,1,2,1,m,1,f,4,2,5,2," +
  "1,2,a,0,8,1,4,9,i,1,1,h,3,n,1,8,1,0,2,6,8,2,6,7,i,2,c,1b,1,1,c,6,8,c,11,1,1,0,2,1,1,0,2,0,6,3,1," +
  "6,1,2,1,0,1,0,2,1,1,3,1,1,9,0,2,4,1,0,9,9,2,1,y,n,2,q,1,0,1,0,5,9,1,x,k,0,5,0,2,3,1e,7,1,5,2,0," +
  "1c,x,1,4,1,1,1,0,4,0,6,0,7,n,20,11,a,14,2,0,4,2h,5,1v,5,29,6,6,1,1q,1,0,1,3,2,6,1,0,1,3,2,12,1,0," +
  "1,3,2,u,1,0,1,3,2,6,1,0,1,3,2,6,1,6,1,m,1,u,1,0,1,3,2,6,1,12,1,i,6,r,z,2c,c,hh,a,p,5,28,f,c,1,3," +
  "e,h,3,1,9,h,e,c,1,2,f,1i,7,7,1,1,b,6,1,0,3,9,12,9,6,2f,8,14,11z,4b,4,2h,6,l,2,5,2,11,2,5,2,7,1,0," +
  "1,0,1,0,1,u,2,1g,1,6,1,0,3,2,1,6,3,3,2,5,4,c,5,2,1,6,h,0,2q,0,d,0,3m,0,4,0,2,9,1,0,3,4,6,0,1,0,1," +
  "0,1,3,1,2,1,6,3,2,5,4,m,z,c2,1w,q,0,7a,25,26z,2,p,8,7,4,2,4,4,2d,6,2,1,2h,1,3,5,13,4,2l,1,13,1k," +
  "18,3,z,s,r,3,1d,f,b,4,1a,1,3a,4,2q,2,u,1,52t,22,g4l,2i,wc,1gz,8mb,2k,6r1,2,1m,45,6,c,4,sp,p,6,p," +
  "b,2g,3,5,2,5,2,5,2,2,mb,u,1,3,c,q,51,11,2,11,148i,6t,a,12,3,1o,3,8,g,1,7,t,4,1b,f6,2c,1,1y,1,1,2," +
  "0,2,1,2,3,1,b,1,0,1,3,1,1,1,1s,1,3,2,7,1,6,1,r,1,3,1,4,1,0,3,6,1,9d,4,81,7xy,wye,g15,f1,gvz6," +
  "1ekd,2,1ekd";
let starts: Uint32Array | undefined;
let ends: Uint32Array | undefined;

function decode(): [Uint32Array, Uint32Array] {
  const numbers = D2.split(",").map((n) => Number.parseInt(n, 36));
  const s = new Uint32Array(numbers.length / 2);
  const e = new Uint32Array(numbers.length / 2);
  let previousEnd = -1;
  for (let i = 0; i < s.length; i++) {
    const start = previousEnd + 1 + (numbers[2 * i] ?? 0);
    previousEnd = start + (numbers[2 * i + 1] ?? 0);
    s[i] = start;
    e[i] = previousEnd;
  }
  return [s, e];
}

/** True when `codePoint` is in RFC 3454 table D.2 (LCat). */
export function isLCat(codePoint: number): boolean {
  if (starts === undefined || ends === undefined) [starts, ends] = decode();
  let lo = 0;
  let hi = starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (codePoint < (starts[mid] ?? 0)) hi = mid - 1;
    else if (codePoint > (ends[mid] ?? 0)) lo = mid + 1;
    else return true;
  }
  return false;
}
