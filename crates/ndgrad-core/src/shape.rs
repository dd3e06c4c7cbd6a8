//! Shapes: element counts, row-major strides, NumPy broadcasting, axes.

use crate::error::{Error, Result};

/// Largest element count of one tensor. WebAssembly 32-bit memory holds at most
/// 4 GiB, so no float32 tensor can exceed 2^30 elements; refusing larger
/// requests up front turns an impossible allocation into a clear error.
pub const MAX_ELEMENTS: usize = 1 << 30;
/// Largest rank accepted (NumPy's limit is 32 as well).
pub const MAX_NDIM: usize = 32;

/// `[2,3]`-style text for error messages.
pub fn fmt_shape(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(","))
}

/// Number of elements, refusing overflow and sizes no memory can hold. A
/// shape with a 0 holds nothing whatever its other dims (NumPy accepts
/// `(8, 2**62, 0)` as readily as `(0, 2**62, 8)`).
pub fn checked_size(shape: &[usize]) -> Result<usize> {
    if shape.len() > MAX_NDIM {
        return Err(Error::invalid(format!(
            "rank {} exceeds the maximum of {MAX_NDIM}",
            shape.len()
        )));
    }
    if shape.contains(&0) {
        return Ok(0);
    }
    let mut n: usize = 1;
    for &d in shape {
        n = n
            .checked_mul(d)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "shape {} has more than {MAX_ELEMENTS} elements",
                    fmt_shape(shape)
                ))
            })?;
    }
    Ok(n)
}

/// Product of dims, saturating: exact for every stored tensor and for any
/// part of its shape, except parts of an empty tensor's shape (whose huge
/// dims would overflow), which are never used to index anything.
pub fn size(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |n, &d| n.saturating_mul(d))
}

/// Row-major strides in elements.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1].saturating_mul(shape[i + 1]);
    }
    s
}

/// NumPy broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0usize; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shape(format!(
                "operands could not be broadcast together with shapes {} {}",
                fmt_shape(a),
                fmt_shape(b)
            )));
        };
    }
    Ok(out)
}

/// Strides (in elements) to read an array of shape `from` as if it had the
/// broadcast shape `to`: 0 along broadcast axes.
pub fn broadcast_strides(from: &[usize], to: &[usize]) -> Vec<usize> {
    let st = strides(from);
    let lead = to.len() - from.len();
    (0..to.len())
        .map(|i| {
            if i < lead || from[i - lead] == 1 {
                0
            } else {
                st[i - lead]
            }
        })
        .collect()
}

/// Whether `from` can broadcast to `to` (one-directional, like `broadcast_to`).
pub fn can_broadcast_to(from: &[usize], to: &[usize]) -> bool {
    if from.len() > to.len() {
        return false;
    }
    let lead = to.len() - from.len();
    from.iter()
        .enumerate()
        .all(|(i, &d)| d == 1 || d == to[i + lead])
}

/// A possibly negative axis, checked against `ndim`.
pub fn normalize_axis(axis: i64, ndim: usize) -> Result<usize> {
    let n = ndim as i64;
    if axis < -n || axis >= n {
        return Err(Error::invalid(format!(
            "axis {axis} is out of bounds for an array of dimension {ndim}"
        )));
    }
    Ok(if axis < 0 { axis + n } else { axis } as usize)
}

/// Several axes: normalised, sorted, each at most once.
pub fn normalize_axes(axes: &[i64], ndim: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let ax = normalize_axis(a, ndim)?;
        if out.contains(&ax) {
            return Err(Error::invalid(format!("duplicate value {a} in axis")));
        }
        out.push(ax);
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes(&[2, 3], &[3]).unwrap(), vec![2, 3]);
        assert_eq!(broadcast_shapes(&[2, 1], &[1, 4]).unwrap(), vec![2, 4]);
        assert_eq!(broadcast_shapes(&[], &[5]).unwrap(), vec![5]);
        assert_eq!(
            broadcast_shapes(&[3, 1, 5], &[4, 1]).unwrap(),
            vec![3, 4, 5]
        );
        let e = broadcast_shapes(&[2, 3], &[4]).unwrap_err();
        assert!(e.message.contains("[2,3] [4]"), "{}", e.message);
    }

    #[test]
    fn strides_and_broadcast_strides() {
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), vec![0, 1, 0]);
    }

    #[test]
    fn axes_are_checked() {
        assert_eq!(normalize_axis(-1, 3).unwrap(), 2);
        assert!(normalize_axis(3, 3).is_err());
        assert!(normalize_axis(-4, 3).is_err());
        assert_eq!(normalize_axes(&[-1, 0], 3).unwrap(), vec![0, 2]);
        assert!(normalize_axes(&[1, -2], 3).is_err());
    }

    #[test]
    fn sizes_overflow_cleanly() {
        assert_eq!(checked_size(&[2, 3]).unwrap(), 6);
        assert_eq!(checked_size(&[]).unwrap(), 1);
        assert!(checked_size(&[1 << 20, 1 << 20]).is_err());
        assert!(checked_size(&[usize::MAX, 2]).is_err());
    }
}
