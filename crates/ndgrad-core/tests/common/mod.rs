//! Shared helpers for the reference-vector tests: a minimal JSON reader (the
//! crate has no dependencies), the `tests/vectors/ops.json` case model
//! (float32, float64 and int32 tensors), and the tolerance rule documented in
//! `tests/vectors/gen_ops.py`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use ndgrad_core::dtype::{DType, Data};

/// A parsed JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing characters at byte {}", p.i));
        }
        Ok(v)
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.get(key).filter(|v| **v != Json::Null),
            _ => None,
        }
    }

    pub fn field(&self, key: &str) -> Result<&Json, String> {
        self.get(key)
            .ok_or_else(|| format!("missing field {key:?}"))
    }

    pub fn as_f64(&self) -> Result<f64, String> {
        match self {
            Json::Num(v) => Ok(*v),
            other => Err(format!("expected a number, got {other:?}")),
        }
    }

    pub fn as_i64(&self) -> Result<i64, String> {
        let v = self.as_f64()?;
        if v.fract() != 0.0 {
            return Err(format!("expected an integer, got {v}"));
        }
        Ok(v as i64)
    }

    pub fn as_str(&self) -> Result<&str, String> {
        match self {
            Json::Str(s) => Ok(s),
            other => Err(format!("expected a string, got {other:?}")),
        }
    }

    pub fn as_bool(&self) -> Result<bool, String> {
        match self {
            Json::Bool(b) => Ok(*b),
            other => Err(format!("expected a bool, got {other:?}")),
        }
    }

    pub fn as_arr(&self) -> Result<&[Json], String> {
        match self {
            Json::Arr(a) => Ok(a),
            other => Err(format!("expected an array, got {other:?}")),
        }
    }

    /// An integer or a list of integers, as a list.
    pub fn as_ints(&self) -> Result<Vec<i64>, String> {
        match self {
            Json::Arr(a) => a.iter().map(Json::as_i64).collect(),
            other => Ok(vec![other.as_i64()?]),
        }
    }

    /// A float32 value: a number, or "nan", "inf", "-inf", "-0".
    pub fn as_f32(&self) -> Result<f32, String> {
        match self {
            Json::Num(v) => Ok(*v as f32),
            Json::Str(s) => match s.as_str() {
                "nan" => Ok(f32::NAN),
                "inf" => Ok(f32::INFINITY),
                "-inf" => Ok(f32::NEG_INFINITY),
                "-0" => Ok(-0.0),
                _ => Err(format!("bad float32 value {s:?}")),
            },
            other => Err(format!("expected a float32 value, got {other:?}")),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", c as char, self.i))
        }
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(format!("bad literal at byte {}", self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                let mut m = BTreeMap::new();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(m));
                }
                loop {
                    let Json::Str(k) = self.string()? else {
                        unreachable!()
                    };
                    self.expect(b':')?;
                    let v = self.value()?;
                    m.insert(k, v);
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(m));
                        }
                        _ => return Err(format!("expected , or }} at byte {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Json::Arr(a));
                }
                loop {
                    a.push(self.value()?);
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(a));
                        }
                        _ => return Err(format!("expected , or ] at byte {}", self.i)),
                    }
                }
            }
            Some(b'"') => self.string(),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                t.parse::<f64>()
                    .map(Json::Num)
                    .map_err(|e| format!("bad number {t:?}: {e}"))
            }
            _ => Err(format!("unexpected input at byte {}", self.i)),
        }
    }

    fn string(&mut self) -> Result<Json, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Err("unterminated string".into());
            };
            self.i += 1;
            match c {
                b'"' => return Ok(Json::Str(out)),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("bad escape")?;
                    self.i += 1;
                    match e {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let hex = self.s.get(self.i..self.i + 4).ok_or("bad \\u escape")?;
                            let hex = std::str::from_utf8(hex).map_err(|e| e.to_string())?;
                            let code = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                            self.i += 4;
                        }
                        other => out.push(other as char),
                    }
                }
                _ => {
                    // Multi-byte UTF-8: copy the whole sequence.
                    let start = self.i - 1;
                    let mut end = self.i;
                    while end < self.s.len() && (self.s[end] & 0xC0) == 0x80 {
                        end += 1;
                    }
                    out.push_str(
                        std::str::from_utf8(&self.s[start..end]).map_err(|e| e.to_string())?,
                    );
                    self.i = end;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The ops.json case model

/// A dtype name of the vectors file.
pub fn dtype_named(name: &str) -> Result<DType, String> {
    DType::ALL
        .into_iter()
        .find(|d| d.name() == name)
        .ok_or_else(|| format!("unknown dtype {name:?}"))
}

/// A float value of the file: a number, or "nan", "inf", "-inf", "-0".
fn float_value(j: &Json) -> Result<f64, String> {
    match j {
        Json::Num(v) => Ok(*v),
        Json::Str(s) => match s.as_str() {
            "nan" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            "-0" => Ok(-0.0),
            _ => Err(format!("bad float value {s:?}")),
        },
        other => Err(format!("expected a float value, got {other:?}")),
    }
}

/// An int32 value: a JSON integer in range (no strings, no fractions).
fn int32_value(j: &Json) -> Result<i32, String> {
    match j {
        Json::Num(v) if v.fract() == 0.0 && *v >= i32::MIN as f64 && *v <= i32::MAX as f64 => {
            Ok(*v as i32)
        }
        other => Err(format!("expected an int32 value, got {other:?}")),
    }
}

/// The values of `j` (a JSON list) decoded in `dtype`: float32 numbers are
/// read as float64 and rounded (`as f32`, exact for the shortest decimals the
/// generator writes), float64 numbers are exact, int32 values are integers.
fn decode(j: &[Json], dtype: DType) -> Result<Data, String> {
    Ok(match dtype {
        DType::F32 => Data::F32(
            j.iter()
                .map(|v| float_value(v).map(|x| x as f32))
                .collect::<Result<_, _>>()?,
        ),
        DType::F64 => Data::F64(j.iter().map(float_value).collect::<Result<_, _>>()?),
        DType::I32 => Data::I32(j.iter().map(int32_value).collect::<Result<_, _>>()?),
        DType::U8 => Data::U8(
            j.iter()
                .map(|v| {
                    int32_value(v).and_then(|x| {
                        u8::try_from(x).map_err(|_| format!("expected a uint8 value, got {x}"))
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// A tensor of the vectors file: dtype, shape and flat C-order values.
#[derive(Clone, Debug)]
pub struct Array {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Array {
    /// The values as float64 (exact for the three dtypes).
    pub fn values(&self) -> Vec<f64> {
        self.data.to_f64_vec()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// An expected tensor with its tolerance.
#[derive(Clone, Debug)]
pub struct Expected {
    pub array: Array,
    pub rtol: f64,
    pub atol: f64,
}

/// The head gradient and the expected gradient of each input (None: the
/// input gets none and is not attached).
#[derive(Clone, Debug)]
pub struct Grad {
    pub head: Array,
    pub grads: Vec<Option<Expected>>,
}

/// One case of `ops.json` (see the schema in `tests/vectors/gen_ops.py`).
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub op: String,
    pub kind: String,
    pub dtype: DType,
    pub params: Json,
    pub inputs: Vec<Array>,
    /// The expected outputs: one, or `[values, indices]` for topk "both".
    pub outputs: Vec<Expected>,
    /// Whether the file used the multi-output form (`outputs`).
    pub multi: bool,
    pub grad: Option<Grad>,
}

impl Case {
    /// A parameter; None when absent or JSON null.
    pub fn param(&self, key: &str) -> Option<&Json> {
        self.params.get(key)
    }

    /// The (first) expected output.
    pub fn output(&self) -> &Expected {
        &self.outputs[0]
    }
}

/// A tensor `{dtype, shape, data}` of the file.
pub fn array(j: &Json) -> Result<Array, String> {
    let dtype = dtype_named(j.field("dtype")?.as_str()?)?;
    let shape = j
        .field("shape")?
        .as_arr()?
        .iter()
        .map(|d| {
            let v = d.as_i64()?;
            usize::try_from(v).map_err(|_| format!("negative dimension {v}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let data = decode(j.field("data")?.as_arr()?, dtype)?;
    if shape.iter().product::<usize>() != data.len() {
        return Err(format!("{} values for shape {shape:?}", data.len()));
    }
    Ok(Array { dtype, shape, data })
}

/// The loosest tolerance the generator uses per dtype: a guard against
/// loosening the file by hand. float32: rtol in (0, 1e-5] (2^-20 or 1e-5);
/// float64: rtol in (0, 1e-12] (2^-49 or 1e-12); int32: exact (0 and 0).
pub fn check_tolerance(dtype: DType, rtol: f64, atol: f64) -> Result<(), String> {
    let max_rtol = match dtype {
        DType::F32 => 1e-5,
        DType::F64 => 1e-12,
        DType::I32 | DType::U8 => {
            if rtol != 0.0 || atol != 0.0 {
                return Err(format!(
                    "{} tensors are exact: rtol {rtol}, atol {atol} (want 0 and 0)",
                    dtype.name()
                ));
            }
            return Ok(());
        }
    };
    if !(rtol > 0.0 && rtol <= max_rtol) {
        return Err(format!(
            "{} rtol {rtol} outside (0, {max_rtol:e}]",
            dtype.name()
        ));
    }
    if !(atol.is_finite() && atol > 0.0) {
        return Err(format!("{} atol {atol} not finite and > 0", dtype.name()));
    }
    Ok(())
}

pub fn expected(j: &Json) -> Result<Expected, String> {
    let array = array(j)?;
    let rtol = j.field("rtol")?.as_f64()?;
    let atol = j.field("atol")?.as_f64()?;
    check_tolerance(array.dtype, rtol, atol)?;
    Ok(Expected { array, rtol, atol })
}

fn case(j: &Json) -> Result<Case, String> {
    let name = j.field("name")?.as_str()?.to_string();
    let wrap = |e: String| format!("{name}: {e}");
    let inputs = j
        .field("inputs")?
        .as_arr()?
        .iter()
        .map(array)
        .collect::<Result<Vec<_>, _>>()
        .map_err(wrap)?;
    let (outputs, multi) = match (j.get("output"), j.get("outputs")) {
        (Some(o), None) => (vec![expected(o).map_err(wrap)?], false),
        (None, Some(list)) => {
            let outs = list
                .as_arr()
                .map_err(wrap)?
                .iter()
                .map(expected)
                .collect::<Result<Vec<_>, _>>()
                .map_err(wrap)?;
            if outs.is_empty() {
                return Err(wrap("empty outputs".into()));
            }
            (outs, true)
        }
        _ => return Err(wrap("exactly one of output and outputs".into())),
    };
    let grad = match (j.get("head"), j.get("grads")) {
        (Some(h), Some(gs)) => {
            let grads = gs
                .as_arr()
                .map_err(wrap)?
                .iter()
                .map(|g| match g {
                    Json::Null => Ok(None),
                    g => expected(g).map(Some),
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(wrap)?;
            if grads.len() != inputs.len() {
                return Err(wrap(format!(
                    "{} grads for {} inputs",
                    grads.len(),
                    inputs.len()
                )));
            }
            Some(Grad {
                head: array(h).map_err(wrap)?,
                grads,
            })
        }
        (None, None) => None,
        _ => return Err(wrap("head and grads come together".into())),
    };
    Ok(Case {
        op: j.field("op")?.as_str()?.to_string(),
        kind: j.field("kind")?.as_str()?.to_string(),
        dtype: dtype_named(j.field("dtype")?.as_str()?).map_err(wrap)?,
        params: j.get("params").cloned().unwrap_or(Json::Null),
        inputs,
        outputs,
        multi,
        grad,
        name,
    })
}

/// Every case of the `tests/vectors/ops-NN.json` shards (in name order),
/// parsed once per test binary.
pub fn load_cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors");
        // The sets named in tests/vectors/sets.json ("ops", then one per
        // generator script), each in shards `<set>-NN.json`.
        let sets_path = format!("{dir}/sets.json");
        let sets_text = std::fs::read_to_string(&sets_path)
            .unwrap_or_else(|e| panic!("cannot read {sets_path}: {e}"));
        let sets_json = Json::parse(&sets_text).unwrap_or_else(|e| panic!("{sets_path}: {e}"));
        let sets: Vec<String> = sets_json
            .as_arr()
            .unwrap_or_else(|e| panic!("{sets_path}: {e}"))
            .iter()
            .map(|s| {
                s.as_str()
                    .unwrap_or_else(|e| panic!("{sets_path}: {e}"))
                    .to_string()
            })
            .collect();
        let names: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        let mut shards: Vec<String> = Vec::new();
        for set in &sets {
            let mut mine: Vec<String> = names
                .iter()
                .filter(|f| {
                    f.strip_prefix(set.as_str())
                        .and_then(|r| r.strip_prefix('-'))
                        .and_then(|r| r.strip_suffix(".json"))
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
                .cloned()
                .collect();
            mine.sort();
            assert!(
                !mine.is_empty(),
                "no {dir}/{set}-NN.json (run its tests/vectors/gen_*.py)"
            );
            shards.extend(mine);
        }
        let mut cases = Vec::new();
        for f in shards {
            let path = format!("{dir}/{f}");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
            let json = Json::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
            for c in json.as_arr().unwrap_or_else(|e| panic!("{path}: {e}")) {
                cases.push(case(c).unwrap_or_else(|e| panic!("{path}: {e}")));
            }
        }
        cases
    })
}

/// How far a comparison was from failing, for the summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct Worst {
    /// max |got - want| / |want| over elements not dominated by cancellation
    /// (|want| >= 1% of the largest sum of |terms|, i.e. 100·rtol·|want| >= atol).
    pub rel: f64,
    /// max |got - want| / (atol + rtol·|want|): 1.0 is the limit.
    pub used: f64,
}

impl Worst {
    pub fn merge(&mut self, o: Worst) {
        self.rel = self.rel.max(o.rel);
        self.used = self.used.max(o.used);
    }
}

/// Compare a result (`dtype`, `shape`, values read exactly as float64) with
/// `want` under the rule of gen_ops.py: NaN must be NaN, ±inf must be equal,
/// otherwise `got` is finite and `|got - want| <= atol + rtol·|want|` (for
/// int32, rtol = atol = 0: equality).
pub fn compare(
    what: &str,
    dtype: DType,
    shape: &[usize],
    got: &[f64],
    want: &Expected,
) -> Result<Worst, String> {
    if dtype != want.array.dtype {
        return Err(format!(
            "{what}: dtype {}, expected {}",
            dtype.name(),
            want.array.dtype.name()
        ));
    }
    if shape != want.array.shape.as_slice() {
        return Err(format!(
            "{what}: shape {shape:?}, expected {:?}",
            want.array.shape
        ));
    }
    let wv = want.array.values();
    if got.len() != wv.len() {
        return Err(format!(
            "{what}: {} values, expected {}",
            got.len(),
            wv.len()
        ));
    }
    let mut worst = Worst::default();
    let mut bad = String::new();
    let mut nbad = 0;
    for (i, (&g, &w)) in got.iter().zip(&wv).enumerate() {
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else if !g.is_finite() {
            false
        } else if dtype == DType::I32 {
            g == w
        } else {
            let err = (g - w).abs();
            let lim = want.atol + want.rtol * w.abs();
            worst.used = worst.used.max(err / lim);
            if w != 0.0 && 100.0 * want.rtol * w.abs() >= want.atol {
                worst.rel = worst.rel.max(err / w.abs());
            }
            err <= lim
        };
        if !ok {
            nbad += 1;
            if nbad <= 4 {
                let _ = if dtype == DType::I32 {
                    write!(bad, " [{i}] got {g} want {w};")
                } else {
                    write!(bad, " [{i}] got {g:e} want {w:e};")
                };
            }
        }
    }
    if nbad > 0 {
        return Err(format!(
            "{what}: {nbad} of {} values out of tolerance (rtol {:e}, atol {:e}):{bad}",
            got.len(),
            want.rtol,
            want.atol
        ));
    }
    Ok(worst)
}
