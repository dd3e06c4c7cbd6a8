//! Elementwise kernels and float32 reductions split over the pool
//! (`ndgrad_core::threads`, native helper threads here) give the same bits
//! on 1, 2 and 3 threads: lengths around the split threshold (`PAR_MIN`),
//! the reduction chunk (`RED_CHUNK`) and the 16-element vector step, odd
//! lengths, NaN, infinities and signed zeros.
//!
//! One test in its own process: the pool is global, so nothing else may
//! change the number of helpers while it runs.

use ndgrad_core::kernels::vector::{self, PAR_MIN};
use ndgrad_core::kernels::{self, BinOp, RedOp, UnOp, RED_CHUNK};
use ndgrad_core::threads;

fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Every thread count gives `one`'s bits; returns the results of `f` on 1 thread.
fn same_on_all<R: PartialEq + std::fmt::Debug>(what: &str, f: impl Fn() -> R) -> R {
    threads::set_helpers(0);
    let one = f();
    for helpers in [1, 2] {
        threads::set_helpers(helpers);
        assert_eq!(threads::threads(), helpers as usize + 1);
        let got = f();
        assert!(got == one, "{what} on {} threads", helpers + 1);
    }
    one
}

#[test]
fn split_kernels_give_the_bits_of_one_thread() {
    threads::spawn_native_helpers(2);
    threads::set_leader_blocks(true);

    let lens = [
        0,
        1,
        17,
        RED_CHUNK - 1,
        RED_CHUNK + 1,
        3 * RED_CHUNK + 5,
        PAR_MIN - 1,
        PAR_MIN,
        PAR_MIN + 15,
        PAR_MIN + 7 * 16 + 3,
    ];
    let before = threads::helper_tasks();
    for &n in &lens {
        let mut a = data(n, n as u64 + 1);
        let b = data(n, n as u64 + 2);
        // Special values where chunks start and end.
        for (k, i) in [0, n / 2, n.saturating_sub(1), PAR_MIN / 4, RED_CHUNK]
            .into_iter()
            .enumerate()
        {
            if i < n {
                a[i] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e-40][k];
            }
        }
        for op in [
            BinOp::Add,
            BinOp::Mul,
            BinOp::Div,
            BinOp::Maximum,
            BinOp::Greater,
        ] {
            let one = same_on_all(&format!("{op:?} n={n}"), || {
                let mut o = vec![7.0f32];
                vector::binary_same(op, &a, &b, &mut o);
                bits(&o)
            });
            assert_eq!(one.len(), n + 1);
            assert_eq!(one[0], 7f32.to_bits(), "appends after what is there");
            same_on_all(&format!("{op:?} scalar n={n}"), || {
                let mut o = Vec::new();
                vector::binary_scalar(op, &a, 1.5, true, &mut o);
                bits(&o)
            });
        }
        for op in [UnOp::Exp, UnOp::Relu] {
            same_on_all(&format!("{op:?} n={n}"), || {
                let mut o = Vec::new();
                vector::unary(op, &a, &mut o);
                bits(&o)
            });
        }
        // NaN and infinities propagate through the split kernels.
        if n > 1 {
            let mut o = Vec::new();
            threads::set_helpers(2);
            vector::binary_same(BinOp::Add, &a, &b, &mut o);
            assert!(o[0].is_nan(), "n={n}");
            if n / 2 > 0 {
                assert!(o[n / 2].is_infinite() && o[n / 2] > 0.0, "n={n}");
            }
        }
        // Reductions: finite data (sums against a float64 reference), then
        // with the special values.
        let finite: Vec<f32> = a
            .iter()
            .map(|&v| if v.is_finite() { v } else { 0.25 })
            .collect();
        let s = same_on_all(&format!("sum n={n}"), || kernels::sum(&finite).to_bits());
        let exact: f64 = finite.iter().map(|&v| v as f64).sum();
        let mag: f64 = finite.iter().map(|&v| v.abs() as f64).sum();
        assert!(
            (f64::from_bits(s) - exact).abs() <= 4.0 * mag * f64::from(f32::EPSILON),
            "sum n={n}"
        );
        for op in [RedOp::Sum, RedOp::Mean, RedOp::Max, RedOp::Min] {
            for x in [&finite, &a] {
                if n == 0 && !op.has_identity() {
                    continue;
                }
                let r = same_on_all(&format!("{op:?} n={n}"), || {
                    kernels::reduce(op, x).to_bits()
                });
                let r = f32::from_bits(r);
                let want = match op {
                    RedOp::Max => x
                        .iter()
                        .fold(f32::NEG_INFINITY, |m, &v| kernels::scalar::fmax(m, v)),
                    RedOp::Min => x
                        .iter()
                        .fold(f32::INFINITY, |m, &v| kernels::scalar::fmin(m, v)),
                    _ => 0.0,
                };
                match op {
                    RedOp::Max | RedOp::Min => {
                        assert!(
                            r.to_bits() == want.to_bits() || (r.is_nan() && want.is_nan()),
                            "{op:?} n={n}"
                        )
                    }
                    // NaN wins over infinities.
                    _ if x.iter().any(|v| v.is_nan()) => assert!(r.is_nan(), "{op:?} n={n}"),
                    _ => {}
                }
            }
        }
        // Rows: many short ones (shared out a group at a time) and a few
        // long ones (each split by the sum itself).
        for len in [7usize, 1000, PAR_MIN / 2] {
            let rows = n / len;
            if rows == 0 {
                continue;
            }
            for op in [RedOp::Sum, RedOp::Max] {
                let got = same_on_all(&format!("rows {op:?} n={n} len={len}"), || {
                    let mut o = vec![0f32; rows];
                    kernels::reduce_rows(op, &a, len, &mut o);
                    bits(&o)
                });
                let want: Vec<u32> = a
                    .chunks_exact(len)
                    .map(|r| kernels::reduce(op, r).to_bits())
                    .collect();
                assert_eq!(got, want, "rows {op:?} n={n} len={len}");
            }
        }
    }
    assert!(threads::helper_tasks() != before, "the helpers took part");
    threads::set_helpers(0);
}
