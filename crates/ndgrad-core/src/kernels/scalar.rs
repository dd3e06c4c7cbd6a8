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

    /// Comparisons give 0/1 and carry no gradient.
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
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Pow => a.powf(b),
            BinOp::Maximum => fmax(a, b),
            BinOp::Minimum => fmin(a, b),
            BinOp::Equal => (a == b) as u8 as f32,
            BinOp::NotEqual => (a != b) as u8 as f32,
            BinOp::Greater => (a > b) as u8 as f32,
            BinOp::GreaterEqual => (a >= b) as u8 as f32,
            BinOp::Lesser => (a < b) as u8 as f32,
            BinOp::LesserEqual => (a <= b) as u8 as f32,
        }
    }
}

/// Unary elementwise operations.
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
}

impl UnOp {
    pub const ALL: [UnOp; 10] = [
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
        }
    }

    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            UnOp::Neg => -x,
            UnOp::Exp => x.exp(),
            UnOp::Log => x.ln(),
            UnOp::Sqrt => x.sqrt(),
            UnOp::Square => x * x,
            UnOp::Abs => x.abs(),
            // 1 / (1 + e^-x) overflows gracefully: e^-x = inf gives 0.
            UnOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            UnOp::Tanh => x.tanh(),
            UnOp::Relu => fmax(x, 0.0),
            UnOp::Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x // 0, -0 and NaN stay as they are (NumPy's sign)
                }
            }
        }
    }
}

/// `max` with WebAssembly's lane semantics: NaN propagates, -0 < +0.
#[inline(always)]
pub fn fmax(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a > b || (a == b && b.is_sign_negative()) {
        a
    } else {
        b
    }
}

/// `min` with WebAssembly's lane semantics: NaN propagates, -0 < +0.
#[inline(always)]
pub fn fmin(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
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
