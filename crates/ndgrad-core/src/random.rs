//! The seeded generator behind `nd.random`: xoshiro128** (32-bit state words,
//! identical in every environment, no dependency).

use crate::dtype::Elem;
use std::cell::Cell;

thread_local! {
    static STATE: Cell<[u32; 4]> = const { Cell::new([0x9E37_79B9, 0x243F_6A88, 0xB7E1_5162, 0x1234_5678]) };
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn seed(s: u64) {
    let mut x = s;
    let a = splitmix(&mut x);
    let b = splitmix(&mut x);
    let st = [a as u32, (a >> 32) as u32, b as u32, (b >> 32) as u32];
    STATE.with(|c| c.set(st));
}

pub fn next_u32() -> u32 {
    STATE.with(|c| {
        let mut s = c.get();
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 9;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(11);
        c.set(s);
        result
    })
}

/// Uniform in [0, 1) with 24 random bits (every float32 step in [0.5, 1)).
pub fn next_unit() -> f64 {
    (next_u32() >> 8) as f64 / (1u32 << 24) as f64
}

pub fn uniform<T: Elem>(low: f64, high: f64, out: &mut [T]) {
    let top = T::from_f64(high);
    let bottom = T::from_f64(low);
    for o in out.iter_mut() {
        let v = T::from_f64(low + (high - low) * next_unit());
        // Rounding to float32 can land on `high`: keep the interval half-open.
        *o = if v >= top && high > low {
            let below = top.next_down();
            if below > bottom {
                below
            } else {
                bottom
            }
        } else {
            v
        };
    }
}

/// Box–Muller, two normals per pair of uniforms.
pub fn normal<T: Elem>(loc: f64, scale: f64, out: &mut [T]) {
    let mut i = 0;
    while i < out.len() {
        let u1 = 1.0 - next_unit(); // (0, 1]: log is finite
        let u2 = next_unit();
        let r = (-2.0 * u1.ln()).sqrt();
        let th = 2.0 * std::f64::consts::PI * u2;
        out[i] = T::from_f64(loc + scale * r * th.cos());
        if i + 1 < out.len() {
            out[i + 1] = T::from_f64(loc + scale * r * th.sin());
        }
        i += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_reproduces_and_ranges_hold() {
        seed(42);
        let mut a = vec![0f32; 1000];
        uniform(-1.0, 1.0, &mut a);
        seed(42);
        let mut b = vec![0f32; 1000];
        uniform(-1.0, 1.0, &mut b);
        assert_eq!(a, b);
        assert!(a.iter().all(|&v| (-1.0..1.0).contains(&v)));
        let mean: f32 = a.iter().sum::<f32>() / 1000.0;
        assert!(mean.abs() < 0.1);
        let mut n = vec![0f32; 10000];
        normal(2.0, 3.0, &mut n);
        let m: f64 = n.iter().map(|&v| v as f64).sum::<f64>() / 1e4;
        let var: f64 = n.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / 1e4;
        assert!((m - 2.0).abs() < 0.1, "{m}");
        assert!((var.sqrt() - 3.0).abs() < 0.1, "{var}");
    }
}
