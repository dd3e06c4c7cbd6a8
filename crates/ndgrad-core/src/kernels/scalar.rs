//! Scalar kernels: one element at a time. They define every op's value and
//! are the oracle the vector paths are tested against.

/// Binary elementwise operations (NumPy broadcasting applies above this level).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
    Equal,
    NotEqual,
    Greater,
    GreaterEqual,
    Lesser,
    LesserEqual,
}

impl BinOp {
    pub const ALL: [BinOp; 13] = [
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::Div,
        BinOp::Pow,
        BinOp::Maximum,
        BinOp::Minimum,
        BinOp::Equal,
        BinOp::NotEqual,
        BinOp::Greater,
        BinOp::GreaterEqual,
        BinOp::Lesser,
        BinOp::LesserEqual,
    ];

    pub fn from_code(code: u32) -> Option<BinOp> {
        BinOp::ALL.get(code as usize).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "sub",
            BinOp::Mul => "mul",
            BinOp::Div => "div",
            BinOp::Pow => "pow",
            BinOp::Maximum => "maximum",
            BinOp::Minimum => "minimum",
            BinOp::Equal => "equal",
            BinOp::NotEqual => "notEqual",
            BinOp::Greater => "greater",
            BinOp::GreaterEqual => "greaterEqual",
            BinOp::Lesser => "lesser",
            BinOp::LesserEqual => "lesserEqual",
        }
    }

    /// Comparisons give 0/1 and a zero gradient (MXNet's MakeZeroGradNodes).
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Equal
                | BinOp::NotEqual
                | BinOp::Greater
                | BinOp::GreaterEqual
                | BinOp::Lesser
                | BinOp::LesserEqual
        )
    }

    #[inline(always)]
    pub fn apply<F: Float>(self, a: F, b: F) -> F {
        let b01 = |c: bool| if c { F::ONE } else { F::ZERO };
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Pow => a.powf(b),
            BinOp::Maximum => fmax(a, b),
            BinOp::Minimum => fmin(a, b),
            BinOp::Equal => b01(a == b),
            BinOp::NotEqual => b01(a != b),
            BinOp::Greater => b01(a > b),
            BinOp::GreaterEqual => b01(a >= b),
            BinOp::Lesser => b01(a < b),
            BinOp::LesserEqual => b01(a <= b),
        }
    }
}

/// Unary elementwise operations. Codes are positions in `ALL`: new ops are
/// appended so the codes JavaScript reads stay stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Square,
    Abs,
    Sigmoid,
    Tanh,
    Relu,
    Sign,
    Sin,
    Cos,
    Tan,
    Arcsin,
    Arccos,
    Arctan,
    Sinh,
    Cosh,
    Arcsinh,
    Arccosh,
    Arctanh,
    Log1p,
    Expm1,
    Log2,
    Log10,
    Reciprocal,
    Rsqrt,
    Cbrt,
    Floor,
    Ceil,
    Round,
    Rint,
    Trunc,
    Erf,
    Softrelu,
}

impl UnOp {
    pub const ALL: [UnOp; 35] = [
        UnOp::Neg,
        UnOp::Exp,
        UnOp::Log,
        UnOp::Sqrt,
        UnOp::Square,
        UnOp::Abs,
        UnOp::Sigmoid,
        UnOp::Tanh,
        UnOp::Relu,
        UnOp::Sign,
        UnOp::Sin,
        UnOp::Cos,
        UnOp::Tan,
        UnOp::Arcsin,
        UnOp::Arccos,
        UnOp::Arctan,
        UnOp::Sinh,
        UnOp::Cosh,
        UnOp::Arcsinh,
        UnOp::Arccosh,
        UnOp::Arctanh,
        UnOp::Log1p,
        UnOp::Expm1,
        UnOp::Log2,
        UnOp::Log10,
        UnOp::Reciprocal,
        UnOp::Rsqrt,
        UnOp::Cbrt,
        UnOp::Floor,
        UnOp::Ceil,
        UnOp::Round,
        UnOp::Rint,
        UnOp::Trunc,
        UnOp::Erf,
        UnOp::Softrelu,
    ];

    pub fn from_code(code: u32) -> Option<UnOp> {
        UnOp::ALL.get(code as usize).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            UnOp::Neg => "neg",
            UnOp::Exp => "exp",
            UnOp::Log => "log",
            UnOp::Sqrt => "sqrt",
            UnOp::Square => "square",
            UnOp::Abs => "abs",
            UnOp::Sigmoid => "sigmoid",
            UnOp::Tanh => "tanh",
            UnOp::Relu => "relu",
            UnOp::Sign => "sign",
            UnOp::Sin => "sin",
            UnOp::Cos => "cos",
            UnOp::Tan => "tan",
            UnOp::Arcsin => "arcsin",
            UnOp::Arccos => "arccos",
            UnOp::Arctan => "arctan",
            UnOp::Sinh => "sinh",
            UnOp::Cosh => "cosh",
            UnOp::Arcsinh => "arcsinh",
            UnOp::Arccosh => "arccosh",
            UnOp::Arctanh => "arctanh",
            UnOp::Log1p => "log1p",
            UnOp::Expm1 => "expm1",
            UnOp::Log2 => "log2",
            UnOp::Log10 => "log10",
            UnOp::Reciprocal => "reciprocal",
            UnOp::Rsqrt => "rsqrt",
            UnOp::Cbrt => "cbrt",
            UnOp::Floor => "floor",
            UnOp::Ceil => "ceil",
            UnOp::Round => "round",
            UnOp::Rint => "rint",
            UnOp::Trunc => "trunc",
            UnOp::Erf => "erf",
            UnOp::Softrelu => "softrelu",
        }
    }

    /// Piecewise-constant ops: their gradient is zero.
    pub fn is_step(self) -> bool {
        matches!(
            self,
            UnOp::Sign | UnOp::Floor | UnOp::Ceil | UnOp::Round | UnOp::Rint | UnOp::Trunc
        )
    }

    /// Ops int32 arrays support (the rest are floating-point functions).
    pub fn int_ok(self) -> bool {
        self.is_step() || matches!(self, UnOp::Neg | UnOp::Abs | UnOp::Square | UnOp::Relu)
    }

    #[inline(always)]
    pub fn apply<F: Float>(self, x: F) -> F {
        let (zero, one) = (F::ZERO, F::ONE);
        match self {
            UnOp::Neg => -x,
            UnOp::Exp => x.exp(),
            UnOp::Log => x.ln(),
            UnOp::Sqrt => x.sqrt(),
            UnOp::Square => x * x,
            UnOp::Abs => x.abs(),
            // 1 / (1 + e^-x) overflows gracefully: e^-x = inf gives 0.
            UnOp::Sigmoid => one / (one + (-x).exp()),
            UnOp::Tanh => x.tanh(),
            UnOp::Relu => fmax(x, zero),
            UnOp::Sign => {
                if x > zero {
                    one
                } else if x < zero {
                    -one
                } else {
                    x // 0, -0 and NaN stay as they are (NumPy's sign)
                }
            }
            UnOp::Sin => x.sin(),
            UnOp::Cos => x.cos(),
            UnOp::Tan => x.tan(),
            UnOp::Arcsin => x.asin(),
            UnOp::Arccos => x.acos(),
            UnOp::Arctan => x.atan(),
            UnOp::Sinh => x.sinh(),
            UnOp::Cosh => x.cosh(),
            UnOp::Arcsinh => x.asinh(),
            UnOp::Arccosh => F::from_f64(acosh(x.to_f64())),
            UnOp::Arctanh => F::from_f64(atanh(x.to_f64())),
            UnOp::Log1p => x.ln_1p(),
            UnOp::Expm1 => x.exp_m1(),
            UnOp::Log2 => x.log2(),
            UnOp::Log10 => x.log10(),
            UnOp::Reciprocal => one / x,
            UnOp::Rsqrt => one / x.sqrt(),
            UnOp::Cbrt => x.cbrt(),
            UnOp::Floor => x.floor(),
            UnOp::Ceil => x.ceil(),
            UnOp::Round => x.round(),
            UnOp::Rint => x.round_ties_even(),
            UnOp::Trunc => x.trunc(),
            UnOp::Erf => F::from_f64(erf(x.to_f64())),
            // log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|).
            UnOp::Softrelu => {
                if x.is_nan() {
                    x
                } else {
                    fmax(x, zero) + (-x.abs()).exp().ln_1p()
                }
            }
        }
    }

    /// The op on an int32 element (only `int_ok` ops).
    pub fn apply_int(self, x: i32) -> i32 {
        match self {
            UnOp::Neg => x.wrapping_neg(),
            UnOp::Abs => x.wrapping_abs(),
            UnOp::Square => x.wrapping_mul(x),
            UnOp::Relu => x.max(0),
            UnOp::Sign => x.signum(),
            _ => x, // floor, ceil, round, rint, trunc of an integer
        }
    }

    /// The op on a uint8 element (only `int_ok` ops), modulo 256 as NumPy:
    /// `-x` wraps, `abs` and `relu` are the identity, `sign` is 0 or 1.
    pub fn apply_u8(self, x: u8) -> u8 {
        match self {
            UnOp::Neg => x.wrapping_neg(),
            UnOp::Square => x.wrapping_mul(x),
            UnOp::Sign => (x != 0) as u8,
            _ => x,
        }
    }
}

/// acosh without the cancellation of `ln(x + √(x²-1))` near 1:
/// `log1p((x-1) + √((x-1)(x+1)))`, and `ln x + ln 2` where x² would
/// overflow.
pub fn acosh(x: f64) -> f64 {
    if x.is_nan() || x < 1.0 {
        return f64::NAN;
    }
    if x > 2f64.powi(28) {
        return x.ln() + core::f64::consts::LN_2;
    }
    let t = x - 1.0;
    (t + (t * (x + 1.0)).sqrt()).ln_1p()
}

/// atanh as `(log1p(x) - log1p(-x)) / 2`: both terms are accurate near ±1,
/// where `log1p(2x / (1-x))` loses the digits of `1 + x`.
pub fn atanh(x: f64) -> f64 {
    0.5 * (x.ln_1p() - (-x).ln_1p())
}

/// The error function, to within a few float64 ulps: the Maclaurin series
/// below |x| = 2 (terms alternate; the largest is under 4, so little is
/// lost to cancellation), and erfc's continued fraction (evaluated with
/// Lentz's method) above, where erf is 1 - erfc.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a >= 6.0 {
        return 1f64.copysign(x); // erfc(6) < 3e-17: erf rounds to ±1
    }
    if a < 2.0 {
        // erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
        let x2 = x * x;
        let mut term = x; // (-1)^n x^(2n+1) / n!
        let mut sum = x;
        let mut n = 0.0f64;
        loop {
            n += 1.0;
            term *= -x2 / n;
            let t = term / (2.0 * n + 1.0);
            sum += t;
            if t.abs() <= sum.abs() * 1e-17 {
                break;
            }
        }
        return sum * core::f64::consts::FRAC_2_SQRT_PI;
    }
    // erfc(a) = e^(-a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + …)))))
    let tiny = 1e-300;
    let mut f = a;
    let mut c = a;
    let mut d = 0.0f64;
    for i in 1..500 {
        let an = i as f64 * 0.5;
        d = a + an * d;
        d = if d == 0.0 { tiny } else { d };
        c = a + an / c;
        c = if c == 0.0 { tiny } else { c };
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    let erfc = (-a * a).exp() / (f * core::f64::consts::PI.sqrt());
    (1.0 - erfc).copysign(x)
}

/// The floating-point types the elementwise formulas are written for.
pub trait Float:
    Copy
    + PartialOrd
    + core::ops::Add<Output = Self>
    + core::ops::Sub<Output = Self>
    + core::ops::Mul<Output = Self>
    + core::ops::Div<Output = Self>
    + core::ops::Neg<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    const NAN: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn is_nan(self) -> bool;
    fn is_sign_negative(self) -> bool;
    fn powf(self, e: Self) -> Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn tanh(self) -> Self;
    fn abs(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tan(self) -> Self;
    fn asin(self) -> Self;
    fn acos(self) -> Self;
    fn atan(self) -> Self;
    fn sinh(self) -> Self;
    fn cosh(self) -> Self;
    fn asinh(self) -> Self;
    fn acosh(self) -> Self;
    fn atanh(self) -> Self;
    fn ln_1p(self) -> Self;
    fn exp_m1(self) -> Self;
    fn log2(self) -> Self;
    fn log10(self) -> Self;
    fn cbrt(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    fn round(self) -> Self;
    fn round_ties_even(self) -> Self;
    fn trunc(self) -> Self;
}

macro_rules! impl_float {
    ($t:ident) => {
        impl Float for $t {
            const ZERO: $t = 0.0;
            const ONE: $t = 1.0;
            const NAN: $t = $t::NAN;
            fn from_f64(v: f64) -> $t {
                v as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            fn is_sign_negative(self) -> bool {
                $t::is_sign_negative(self)
            }
            fn powf(self, e: $t) -> $t {
                $t::powf(self, e)
            }
            impl_float!(@fns $t: exp ln sqrt tanh abs sin cos tan asin acos atan sinh cosh asinh acosh
                atanh ln_1p exp_m1 log2 log10 cbrt floor ceil round round_ties_even trunc);
        }
    };
    (@fns $t:ident: $($f:ident)*) => {
        $(
            #[inline(always)]
            fn $f(self) -> $t {
                $t::$f(self)
            }
        )*
    };
}
impl_float!(f32);
impl_float!(f64);

/// `max` with WebAssembly's lane semantics: NaN propagates, -0 < +0.
#[inline(always)]
pub fn fmax<F: Float>(a: F, b: F) -> F {
    if a.is_nan() || b.is_nan() {
        F::NAN
    } else if a > b || (a == b && b.is_sign_negative()) {
        a
    } else {
        b
    }
}

/// `min` with WebAssembly's lane semantics: NaN propagates, -0 < +0.
#[inline(always)]
pub fn fmin<F: Float>(a: F, b: F) -> F {
    if a.is_nan() || b.is_nan() {
        F::NAN
    } else if a < b || (a == b && a.is_sign_negative()) {
        a
    } else {
        b
    }
}

pub fn binary_same(op: BinOp, a: &[f32], b: &[f32], out: &mut [f32]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = op.apply(x, y);
    }
}

/// `a op s`, or `s op a` when `reverse`.
pub fn binary_scalar(op: BinOp, a: &[f32], s: f32, reverse: bool, out: &mut [f32]) {
    if reverse {
        for (o, &x) in out.iter_mut().zip(a) {
            *o = op.apply(s, x);
        }
    } else {
        for (o, &x) in out.iter_mut().zip(a) {
            *o = op.apply(x, s);
        }
    }
}

pub fn unary(op: UnOp, x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = op.apply(v);
    }
}
