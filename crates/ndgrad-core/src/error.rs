//! Errors with stable numeric codes. The code is what crosses the FFI; the
//! message (which names the operation and the shapes) is read by the
//! TypeScript side through `nd_error_message`. The TS side never keeps its own
//! table of codes: it asks `ErrorKind::name` through the FFI at load time.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ErrorKind {
    /// A value is out of its domain: bad shape, axis, index, data length, ...
    InvalidArgument = 1,
    /// Shapes do not agree (broadcasting, dot, reshape).
    ShapeMismatch = 2,
    /// A handle that was disposed, never existed, or is of the wrong kind.
    InvalidHandle = 3,
    /// Memory could not grow to hold a tensor.
    OutOfMemory = 4,
    /// Autograd misuse: backward without a graph, a freed graph, ...
    Autograd = 5,
    /// A broken internal invariant (a bug): reported, never a trap.
    Internal = 6,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::InvalidArgument,
        ErrorKind::ShapeMismatch,
        ErrorKind::InvalidHandle,
        ErrorKind::OutOfMemory,
        ErrorKind::Autograd,
        ErrorKind::Internal,
    ];

    pub fn code(self) -> u32 {
        self as u32
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "InvalidArgument",
            ErrorKind::ShapeMismatch => "ShapeMismatch",
            ErrorKind::InvalidHandle => "InvalidHandle",
            ErrorKind::OutOfMemory => "OutOfMemory",
            ErrorKind::Autograd => "Autograd",
            ErrorKind::Internal => "Internal",
        }
    }

    pub fn from_code(code: u32) -> Option<ErrorKind> {
        ErrorKind::ALL.iter().copied().find(|k| k.code() == code)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }
    pub fn shape(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::ShapeMismatch, message)
    }
    pub fn handle(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidHandle, message)
    }
    pub fn autograd(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Autograd, message)
    }
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }
    /// `elements` values of `dtype` could not be allocated.
    pub fn oom(elements: usize, dtype: crate::dtype::DType) -> Error {
        let bytes = (elements as u64).saturating_mul(dtype.size() as u64);
        Error::new(
            ErrorKind::OutOfMemory,
            format!("out of memory: could not allocate {bytes} bytes for a tensor"),
        )
    }
    /// A temporary of `bytes` bytes (index lists, scratch, bookkeeping that
    /// grows with the data) could not be allocated.
    pub fn oom_bytes(bytes: u64) -> Error {
        Error::new(
            ErrorKind::OutOfMemory,
            format!("out of memory: could not allocate {bytes} bytes"),
        )
    }
    /// Prefix the message with the operation's name, e.g. `add: ...`.
    pub fn in_op(mut self, op: &str) -> Error {
        if !self.message.starts_with(op) {
            self.message = format!("{op}: {}", self.message);
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for Error {}
