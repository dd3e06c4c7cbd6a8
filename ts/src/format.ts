/**
 * NumPy-compatible array and scalar printing.
 *
 * `formatArray` reproduces `str(ndarray)` and `formatScalar` reproduces
 * `str(np.float32(v))` / `str(np.float64(v))` / `str(np.int32(v))` /
 * `str(np.uint8(v))` of NumPy
 * 1.24 with the default print options (legacy=False, precision=8,
 * floatmode='maxprec', threshold=1000, edgeitems=3, linewidth=75, sign='-').
 *
 * The logic is a port of `numpy/core/arrayprint.py` (`_formatArray`,
 * `_extendLine`, `FloatingFormat`, `IntegerFormat`, `_leading_trailing`) and
 * of the Dragon4 digit generator used by NumPy (`dragon4.c`:
 * `Dragon4`, `FormatPositional`, `FormatScientific`), restricted to the
 * options that the default printing path uses. Digits are generated exactly
 * with BigInt arithmetic, so every output is byte-for-byte NumPy's.
 *
 * Pure ESM, no dependencies, no Node-only APIs.
 */

export type DType = "float32" | "float64" | "int32" | "uint8";

// ---------------------------------------------------------------------------
// Print options (NumPy defaults)
// ---------------------------------------------------------------------------

const PRECISION = 8;
const THRESHOLD = 1000;
const EDGEITEMS = 3;
const LINEWIDTH = 75;
const SEPARATOR = " ";
const NANSTR = "nan";
const INFSTR = "inf";

// ---------------------------------------------------------------------------
// Decomposition of IEEE floats into (mantissa, exponent)
// ---------------------------------------------------------------------------

interface FloatParts {
  negative: boolean;
  /** value = mantissa * 2^exponent */
  mantissa: bigint;
  exponent: number;
  /** index of the highest set bit of the mantissa */
  mantissaBit: number;
  /** is the high margin twice as large as the low margin */
  unequalMargins: boolean;
}

const scratchView = new DataView(new ArrayBuffer(8));

function log2u32(v: number): number {
  return 31 - Math.clz32(v);
}

function partsFloat32(v: number): FloatParts {
  scratchView.setFloat32(0, v);
  const bits = scratchView.getUint32(0);
  const negative = bits >>> 31 !== 0;
  const fexp = (bits >>> 23) & 0xff;
  const fman = bits & 0x7fffff;
  if (fexp !== 0) {
    return {
      negative,
      mantissa: BigInt((1 << 23) | fman),
      exponent: fexp - 127 - 23,
      mantissaBit: 23,
      unequalMargins: fexp !== 1 && fman === 0,
    };
  }
  return {
    negative,
    mantissa: BigInt(fman),
    exponent: 1 - 127 - 23,
    mantissaBit: fman === 0 ? 0 : log2u32(fman),
    unequalMargins: false,
  };
}

const BIG_2_32 = BigInt(4294967296);

function partsFloat64(v: number): FloatParts {
  scratchView.setFloat64(0, v);
  const hi = scratchView.getUint32(0);
  const lo = scratchView.getUint32(4);
  const negative = hi >>> 31 !== 0;
  const fexp = (hi >>> 20) & 0x7ff;
  const manHi = hi & 0xfffff;
  const fmanZero = manHi === 0 && lo === 0;
  if (fexp !== 0) {
    return {
      negative,
      mantissa: BigInt(manHi | 0x100000) * BIG_2_32 + BigInt(lo),
      exponent: fexp - 1023 - 52,
      mantissaBit: 52,
      unequalMargins: fexp !== 1 && fmanZero,
    };
  }
  return {
    negative,
    mantissa: BigInt(manHi) * BIG_2_32 + BigInt(lo),
    exponent: 1 - 1023 - 52,
    mantissaBit: fmanZero ? 0 : manHi !== 0 ? 32 + log2u32(manHi) : log2u32(lo),
    unequalMargins: false,
  };
}

// ---------------------------------------------------------------------------
// Dragon4 (unique digit mode), ported from NumPy's dragon4.c
// ---------------------------------------------------------------------------

const B0 = BigInt(0);
const B1 = BigInt(1);
const B2 = BigInt(2);
const B4 = BigInt(4);
const B10 = BigInt(10);

const pow10Cache: bigint[] = [B1];
function pow10(n: number): bigint {
  let v = pow10Cache[n];
  if (v === undefined) {
    let last = pow10Cache[pow10Cache.length - 1] as bigint;
    while (pow10Cache.length <= n) {
      last = last * B10;
      pow10Cache.push(last);
    }
    v = last;
  }
  return v;
}

function pow2(n: number): bigint {
  return B1 << BigInt(n);
}

/** How Dragon4's cutoff numbers are interpreted. */
type Cutoff = 0 | 1;
const CUTOFF_TOTAL_LENGTH: Cutoff = 0;
const CUTOFF_FRACTION_LENGTH: Cutoff = 1;

/** NumPy's Dragon4 output buffer is 16384 characters. */
const BUFFER_SIZE = 16384;
const LOG10_2 = 0.30102999566398119521373889472449;

interface Digits {
  digits: string;
  /** base-10 exponent of the first digit */
  exponent: number;
}

/**
 * Shortest digits that uniquely identify the value (IEEE unbiased rounding
 * at the boundaries), optionally cut off after `cutoffMax` digits and
 * extended to at least `cutoffMin` digits (-1: no limit).
 */
function dragon4(p: FloatParts, cutoffMode: Cutoff, cutoffMax: number, cutoffMin: number): Digits {
  const mantissa = p.mantissa;
  const exponent = p.exponent;
  if (mantissa === B0) {
    return { digits: "0", exponent: 0 };
  }
  const isEven = (mantissa & B1) === B0;
  const unequal = p.unequalMargins;

  let scale: bigint;
  let value: bigint;
  let marginLow: bigint;
  let marginHigh: bigint;
  if (unequal) {
    if (exponent > 0) {
      value = mantissa << BigInt(exponent + 2);
      scale = B4;
      marginLow = pow2(exponent);
    } else {
      value = mantissa << B2;
      scale = pow2(-exponent + 2);
      marginLow = B1;
    }
    marginHigh = marginLow * B2;
  } else {
    if (exponent > 0) {
      value = mantissa << BigInt(exponent + 1);
      scale = B2;
      marginLow = pow2(exponent);
    } else {
      value = mantissa << B1;
      scale = pow2(-exponent + 1);
      marginLow = B1;
    }
    marginHigh = marginLow;
  }

  let digitExponent = Math.ceil((p.mantissaBit + exponent) * LOG10_2 - 0.69);

  if (cutoffMax >= 0 && cutoffMode === CUTOFF_FRACTION_LENGTH && digitExponent <= -cutoffMax) {
    digitExponent = -cutoffMax + 1;
  }

  if (digitExponent > 0) {
    scale = scale * pow10(digitExponent);
  } else if (digitExponent < 0) {
    const p10 = pow10(-digitExponent);
    value = value * p10;
    marginLow = marginLow * p10;
    marginHigh = unequal ? marginLow * B2 : marginLow;
  }

  if (value >= scale) {
    digitExponent = digitExponent + 1;
  } else {
    value = value * B10;
    marginLow = marginLow * B10;
    marginHigh = unequal ? marginLow * B2 : marginLow;
  }

  let cutoffMaxExponent = digitExponent - BUFFER_SIZE;
  if (cutoffMax >= 0) {
    const desired = cutoffMode === CUTOFF_TOTAL_LENGTH ? digitExponent - cutoffMax : -cutoffMax;
    if (desired > cutoffMaxExponent) {
      cutoffMaxExponent = desired;
    }
  }
  let cutoffMinExponent = digitExponent;
  if (cutoffMin >= 0) {
    const desired = cutoffMode === CUTOFF_TOTAL_LENGTH ? digitExponent - cutoffMin : -cutoffMin;
    if (desired < cutoffMinExponent) {
      cutoffMinExponent = desired;
    }
  }

  let outExponent = digitExponent - 1;
  const out: number[] = [];
  let low = false;
  let high = false;
  let outputDigit = 0;

  for (;;) {
    digitExponent = digitExponent - 1;
    const q = value / scale;
    value = value - q * scale;
    outputDigit = Number(q);
    const valueHigh = value + marginHigh;
    low = isEven ? value <= marginLow : value < marginLow;
    high = isEven ? valueHigh >= scale : valueHigh > scale;
    if (((low || high) && digitExponent <= cutoffMinExponent) || digitExponent === cutoffMaxExponent) {
      break;
    }
    out.push(outputDigit);
    value = value * B10;
    marginLow = marginLow * B10;
    marginHigh = unequal ? marginLow * B2 : marginLow;
  }

  let roundDown = low;
  if (low === high) {
    const twice = value * B2;
    roundDown = twice < scale;
    if (twice === scale) {
      roundDown = (outputDigit & 1) === 0;
    }
  }

  if (roundDown) {
    out.push(outputDigit);
  } else if (outputDigit === 9) {
    for (;;) {
      if (out.length === 0) {
        out.push(1);
        outExponent += 1;
        break;
      }
      const last = out.pop() as number;
      if (last !== 9) {
        out.push(last + 1);
        break;
      }
    }
  } else {
    out.push(outputDigit + 1);
  }

  return { digits: out.join(""), exponent: outExponent };
}

// ---------------------------------------------------------------------------
// FormatPositional / FormatScientific
// ---------------------------------------------------------------------------

/** Trimming of trailing zeros (NumPy's TrimMode). */
type Trim = 0 | 1 | 2 | 3;
/** 'k': keep trailing zeros and the decimal point */
const TRIM_NONE: Trim = 0;
/** '.': trim trailing zeros, keep the decimal point */
const TRIM_ZEROS: Trim = 1;
/** '0': trim all but one zero after the decimal point */
const TRIM_LEAVE_ONE_ZERO: Trim = 2;
/** '-': trim trailing zeros and the decimal point */
const TRIM_DPT_ZEROS: Trim = 3;

interface PositionalOptions {
  precision: number; // -1: none (cutoff on fraction digits)
  minDigits: number; // -1: none
  trim: Trim;
  padLeft: number; // -1: none
  padRight: number; // -1: none
}

function stripZeros(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 48) {
    end--;
  }
  return s.slice(0, end);
}

function spaces(n: number): string {
  return n > 0 ? " ".repeat(n) : "";
}

function formatPositional(p: FloatParts, o: PositionalOptions): string {
  const sign = p.negative ? "-" : "";
  const hasSign = sign.length;
  const d = dragon4(p, CUTOFF_FRACTION_LENGTH, o.precision, o.minDigits);
  const digits = d.digits;
  const printExponent = d.exponent;

  let whole: string;
  let frac: string;
  if (printExponent >= 0) {
    const numWholeDigits = printExponent + 1;
    if (digits.length <= numWholeDigits) {
      whole = digits + "0".repeat(numWholeDigits - digits.length);
      frac = "";
    } else {
      whole = digits.slice(0, numWholeDigits);
      frac = digits.slice(numWholeDigits);
    }
  } else {
    whole = "0";
    frac = "0".repeat(-(printExponent + 1)) + digits;
  }
  const numWholeDigits = whole.length;

  // always add the decimal point, except for DptZeros mode
  let dot = frac.length > 0 || o.trim !== TRIM_DPT_ZEROS;

  const desiredFractionalDigits = o.minDigits < 0 ? 0 : o.minDigits;

  if (o.trim === TRIM_LEAVE_ONE_ZERO) {
    if (frac.length === 0) {
      frac = "0";
    }
  } else if (o.trim === TRIM_NONE && desiredFractionalDigits > frac.length) {
    frac += "0".repeat(desiredFractionalDigits - frac.length);
  }

  if (o.trim !== TRIM_NONE && frac.length > 0) {
    frac = stripZeros(frac);
    if (frac.length === 0) {
      if (o.trim === TRIM_LEAVE_ONE_ZERO) {
        frac = "0";
      } else if (o.trim === TRIM_DPT_ZEROS) {
        dot = false;
      }
    }
  }

  let s = sign + whole + (dot ? "." : "") + frac;

  if (o.padRight >= frac.length) {
    if (o.trim === TRIM_DPT_ZEROS && frac.length === 0) {
      s += " ";
    }
    s += spaces(o.padRight - frac.length);
  }
  if (o.padLeft > numWholeDigits + hasSign) {
    s = spaces(o.padLeft - (numWholeDigits + hasSign)) + s;
  }
  return s;
}

interface ScientificOptions {
  precision: number; // -1: none (cutoff on significant digits after the first)
  minDigits: number; // -1: none
  trim: Trim;
  padLeft: number; // -1: none
  expDigits: number; // -1: none
}

function formatScientific(p: FloatParts, o: ScientificOptions): string {
  const sign = p.negative ? "-" : "";
  let s = "";
  const leftChars = 1 + sign.length;
  if (o.padLeft > leftChars) {
    s += spaces(o.padLeft - leftChars);
  }
  s += sign;

  const d = dragon4(
    p,
    CUTOFF_TOTAL_LENGTH,
    o.precision < 0 ? -1 : o.precision + 1,
    o.minDigits < 0 ? -1 : o.minDigits + 1,
  );
  const first = d.digits.charAt(0);
  let frac = d.digits.slice(1);
  const dot = frac.length > 0 || o.trim !== TRIM_DPT_ZEROS;

  const addDigits = o.minDigits < 0 ? 0 : o.minDigits;
  if (o.trim === TRIM_LEAVE_ONE_ZERO) {
    if (frac.length === 0) {
      frac = "0";
    }
  } else if (o.trim === TRIM_NONE && addDigits > frac.length) {
    frac += "0".repeat(addDigits - frac.length);
  }

  if (o.trim !== TRIM_NONE && frac.length > 0) {
    frac = stripZeros(frac);
    if (o.trim === TRIM_LEAVE_ONE_ZERO && frac.length === 0) {
      frac = "0";
    }
  }

  s += first + (dot ? "." : "") + frac;

  let expDigits = o.expDigits;
  if (expDigits > 5) {
    expDigits = 5;
  }
  if (expDigits < 0) {
    expDigits = 2;
  }
  let e = d.exponent;
  let expSign = "+";
  if (e < 0) {
    expSign = "-";
    e = -e;
  }
  let expStr = String(e);
  if (expStr.length < expDigits) {
    expStr = "0".repeat(expDigits - expStr.length) + expStr;
  }
  return s + "e" + expSign + expStr;
}

// ---------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------

function partsOf(v: number, dtype: "float32" | "float64"): FloatParts {
  return dtype === "float32" ? partsFloat32(v) : partsFloat64(v);
}

function castValue(v: number, dtype: DType): number {
  if (dtype === "float32") {
    return Math.fround(v);
  }
  if (dtype === "int32") {
    return v | 0;
  }
  if (dtype === "uint8") {
    return v & 255;
  }
  return +v;
}

/**
 * `str(np.float32(v))`, `str(np.float64(v))` or `str(np.int32(v))` as
 * printed by NumPy 1.24.
 */
export function formatScalar(v: number, dtype: DType): string {
  const x = castValue(v, dtype);
  if (dtype === "int32" || dtype === "uint8") {
    return String(x);
  }
  if (Number.isNaN(x)) {
    return NANSTR;
  }
  if (!Number.isFinite(x)) {
    return x < 0 ? "-" + INFSTR : INFSTR;
  }
  const abs = Math.abs(x);
  const p = partsOf(x, dtype);
  if (x === 0 || (abs < 1e16 && abs >= 1e-4)) {
    return formatPositional(p, {
      precision: -1,
      minDigits: -1,
      trim: TRIM_LEAVE_ONE_ZERO,
      padLeft: -1,
      padRight: -1,
    });
  }
  return formatScientific(p, {
    precision: -1,
    minDigits: -1,
    trim: TRIM_DPT_ZEROS,
    padLeft: -1,
    expDigits: -1,
  });
}

// ---------------------------------------------------------------------------
// Element formatters (FloatingFormat / IntegerFormat)
// ---------------------------------------------------------------------------

type ElementFormatter = (x: number) => string;

function splitAt(s: string, ch: string): [string, string] {
  const i = s.indexOf(ch);
  return i < 0 ? [s, ""] : [s.slice(0, i), s.slice(i + 1)];
}

/** FloatingFormat with floatmode='maxprec', precision=8, sign='-'. */
function floatingFormat(data: readonly number[], dtype: "float32" | "float64"): ElementFormatter {
  const finite: number[] = [];
  for (const x of data) {
    if (Number.isFinite(x)) {
      finite.push(x);
    }
  }

  // choose exponential mode based on the non-zero finite values
  let expFormat = false;
  let maxVal = -Infinity;
  let minVal = Infinity;
  let anyNonZero = false;
  for (const x of finite) {
    if (x !== 0) {
      const a = Math.abs(x);
      anyNonZero = true;
      if (a > maxVal) maxVal = a;
      if (a < minVal) minVal = a;
    }
  }
  if (anyNonZero) {
    // np.max/np.min keep the array dtype; the ratio of two float32 scalars is
    // a float32, while the comparisons against Python floats are done in
    // float64.
    const ratio = dtype === "float32" ? Math.fround(maxVal / minVal) : maxVal / minVal;
    if (maxVal >= 1e8 || minVal < 0.0001 || ratio > 1000) {
      expFormat = true;
    }
  }

  let padLeft: number;
  let padRight: number;
  let precision = PRECISION;
  let minDigits = 0;
  let expSize = -1;

  if (finite.length === 0) {
    padLeft = 0;
    padRight = 0;
  } else if (expFormat) {
    let maxInt = 0;
    let maxFrac = 0;
    let maxExp = 0;
    for (const x of finite) {
      const s = formatScientific(partsOf(x, dtype), {
        precision: PRECISION,
        minDigits: -1,
        trim: TRIM_ZEROS,
        padLeft: -1,
        expDigits: -1,
      });
      const [mant, exp] = splitAt(s, "e");
      const [ip, fp] = splitAt(mant, ".");
      if (exp.length > maxExp) maxExp = exp.length;
      if (ip.length > maxInt) maxInt = ip.length;
      if (fp.length > maxFrac) maxFrac = fp.length;
    }
    expSize = maxExp - 1;
    precision = maxFrac;
    minDigits = maxFrac;
    padLeft = maxInt;
    padRight = expSize + 2 + precision;
  } else {
    let maxInt = 0;
    let maxFrac = 0;
    for (const x of finite) {
      const s = formatPositional(partsOf(x, dtype), {
        precision: PRECISION,
        minDigits: -1,
        trim: TRIM_ZEROS,
        padLeft: -1,
        padRight: -1,
      });
      const [ip, fp] = splitAt(s, ".");
      if (ip.length > maxInt) maxInt = ip.length;
      if (fp.length > maxFrac) maxFrac = fp.length;
    }
    padLeft = maxInt;
    padRight = maxFrac;
  }

  // if there are non-finite values, may need to increase pad_left
  if (finite.length !== data.length) {
    let negInf = false;
    for (const x of data) {
      if (x === -Infinity) {
        negInf = true;
        break;
      }
    }
    const offset = padRight + 1;
    padLeft = Math.max(padLeft, NANSTR.length - offset, INFSTR.length + (negInf ? 1 : 0) - offset);
  }

  const width = padLeft + padRight + 1;
  const pl = padLeft;
  const pr = padRight;
  const prec = precision;
  const md = minDigits;
  const es = expSize;

  return (x: number): string => {
    if (!Number.isFinite(x)) {
      const ret = Number.isNaN(x) ? NANSTR : x < 0 ? "-" + INFSTR : INFSTR;
      return spaces(width - ret.length) + ret;
    }
    const p = partsOf(x, dtype);
    if (expFormat) {
      return formatScientific(p, { precision: prec, minDigits: md, trim: TRIM_NONE, padLeft: pl, expDigits: es });
    }
    return formatPositional(p, { precision: prec, minDigits: md, trim: TRIM_ZEROS, padLeft: pl, padRight: pr });
  };
}

/** IntegerFormat: '%{w}d' with w the widest of str(max), str(min). */
function integerFormat(data: readonly number[]): ElementFormatter {
  let width = 0;
  if (data.length > 0) {
    let mx = -Infinity;
    let mn = Infinity;
    for (const x of data) {
      if (x > mx) mx = x;
      if (x < mn) mn = x;
    }
    width = Math.max(String(mx).length, String(mn).length);
  }
  return (x: number): string => {
    const s = String(x);
    return s.length < width ? spaces(width - s.length) + s : s;
  };
}

// ---------------------------------------------------------------------------
// Arrays (_leading_trailing, _formatArray, _extendLine)
// ---------------------------------------------------------------------------

function rstrip(s: string): string {
  return s.replace(/\s+$/, "");
}

/** Python's `_extendLine` (legacy=False). Returns [s, line]. */
function extendLine(
  s: string,
  line: string,
  word: string,
  lineWidth: number,
  nextLinePrefix: string,
): [string, string] {
  let needsWrap = line.length + word.length > lineWidth;
  // don't wrap lines if it won't help
  if (line.length <= nextLinePrefix.length) {
    needsWrap = false;
  }
  if (needsWrap) {
    s += rstrip(line) + "\n";
    line = nextLinePrefix;
  }
  line += word;
  return [s, line];
}

/**
 * `str(np.array(data, dtype).reshape(shape))` as printed by NumPy 1.24 with
 * the default print options.
 */
export function formatArray(data: ArrayLike<number>, shape: readonly number[], dtype: DType): string {
  let size = 1;
  for (const n of shape) {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(`formatArray: invalid shape [${shape.join(", ")}]`);
    }
    size *= n;
  }
  if (size !== data.length) {
    throw new RangeError(
      `formatArray: shape [${shape.join(", ")}] has ${size} elements but data has ${data.length}`,
    );
  }
  const ndim = shape.length;
  const elem = (i: number): number => castValue(data[i] as number, dtype);
  if (ndim === 0) {
    return formatScalar(elem(0), dtype);
  }
  if (size === 0) {
    return "[]";
  }

  // dims[axis] = [length, stride]
  const dims: (readonly [number, number])[] = [];
  {
    let st = 1;
    for (let i = ndim - 1; i >= 0; i--) {
      const n = shape[i] as number;
      dims.unshift([n, st]);
      st *= n;
    }
  }

  const summarize = size > THRESHOLD;

  // the data the formatter is built from: all of it, or the N-D corners
  const corner: number[] = [];
  const collect = (axis: number, offset: number): void => {
    if (axis === ndim) {
      corner.push(elem(offset));
      return;
    }
    const [n, st] = dims[axis] as readonly [number, number];
    if (summarize && n > 2 * EDGEITEMS) {
      for (let i = 0; i < EDGEITEMS; i++) collect(axis + 1, offset + i * st);
      for (let i = n - EDGEITEMS; i < n; i++) collect(axis + 1, offset + i * st);
    } else {
      for (let i = 0; i < n; i++) collect(axis + 1, offset + i * st);
    }
  };
  collect(0, 0);

  const formatFunction: ElementFormatter =
    dtype === "int32" || dtype === "uint8" ? integerFormat(corner) : floatingFormat(corner, dtype);

  const summaryInsert = "...";
  const separator = SEPARATOR;
  const sepStripped = rstrip(separator);

  const recurser = (axis: number, offset: number, hangingIndent: string, currWidth: number): string => {
    const axesLeft = ndim - axis;
    if (axesLeft === 0) {
      return formatFunction(elem(offset));
    }
    // when recursing, add a space to align with the [ added, and reduce the
    // length of the line by 1
    const nextHangingIndent = hangingIndent + " ";
    const nextWidth = currWidth - 1;

    const [aLen, st] = dims[axis] as readonly [number, number];
    const showSummary = summarize && 2 * EDGEITEMS < aLen;
    const leadingItems = showSummary ? EDGEITEMS : 0;
    const trailingItems = showSummary ? EDGEITEMS : aLen;

    let s = "";
    if (axesLeft === 1) {
      // the length up until the beginning of the separator / bracket
      const elemWidth = currWidth - Math.max(sepStripped.length, 1);
      let line = hangingIndent;
      for (let i = 0; i < leadingItems; i++) {
        const word = recurser(axis + 1, offset + i * st, nextHangingIndent, nextWidth);
        [s, line] = extendLine(s, line, word, elemWidth, hangingIndent);
        line += separator;
      }
      if (showSummary) {
        [s, line] = extendLine(s, line, summaryInsert, elemWidth, hangingIndent);
        line += separator;
      }
      for (let i = trailingItems; i > 1; i--) {
        const word = recurser(axis + 1, offset + (aLen - i) * st, nextHangingIndent, nextWidth);
        [s, line] = extendLine(s, line, word, elemWidth, hangingIndent);
        line += separator;
      }
      const word = recurser(axis + 1, offset + (aLen - 1) * st, nextHangingIndent, nextWidth);
      [s, line] = extendLine(s, line, word, elemWidth, hangingIndent);
      s += line;
    } else {
      // other axes - insert newlines between rows
      const lineSep = sepStripped + "\n".repeat(axesLeft - 1);
      for (let i = 0; i < leadingItems; i++) {
        const nested = recurser(axis + 1, offset + i * st, nextHangingIndent, nextWidth);
        s += hangingIndent + nested + lineSep;
      }
      if (showSummary) {
        s += hangingIndent + summaryInsert + lineSep;
      }
      for (let i = trailingItems; i > 1; i--) {
        const nested = recurser(axis + 1, offset + (aLen - i) * st, nextHangingIndent, nextWidth);
        s += hangingIndent + nested + lineSep;
      }
      const nested = recurser(axis + 1, offset + (aLen - 1) * st, nextHangingIndent, nextWidth);
      s += hangingIndent + nested;
    }
    // remove the hanging indent, and wrap in []
    return "[" + s.slice(hangingIndent.length) + "]";
  };

  // skip over "["
  const nextLinePrefix = " ";
  return recurser(0, 0, nextLinePrefix, LINEWIDTH);
}
