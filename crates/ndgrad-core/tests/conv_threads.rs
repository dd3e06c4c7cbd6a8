//! The float32 convolution kernels (`kernels::conv::*_f32`: the packed
//! micro-kernel fed from the images) against the generic im2col/col2im
//! path run in float64 on the same values, on shapes large enough for
//! several k blocks, edge tiles and the thread split; and bit for bit the
//! same on 1, 2 and 3 threads (native helper threads).
//!
//! One test in its own process: the pool is global.

use ndgrad_core::kernels::conv::{self, Geom};
use ndgrad_core::threads;

fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn geom(
    n: usize,
    c: usize,
    hw: (usize, usize),
    f: usize,
    k: (usize, usize),
    s: (usize, usize),
    p: (usize, usize),
    d: (usize, usize),
    groups: usize,
) -> Geom {
    let out =
        |i: usize, k: usize, s: usize, p: usize, d: usize| (i + 2 * p - (d * (k - 1) + 1)) / s + 1;
    Geom {
        n,
        c,
        h: hw.0,
        w: hw.1,
        f,
        oh: out(hw.0, k.0, s.0, p.0, d.0),
        ow: out(hw.1, k.1, s.1, p.1, d.1),
        kh: k.0,
        kw: k.1,
        sh: s.0,
        sw: s.1,
        ph: p.0,
        pw: p.1,
        dh: d.0,
        dw: d.1,
        groups,
    }
}

fn wide(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// |got − want| ≤ 1e-5 · (max |terms| sum) for every element.
fn close(what: &str, got: &[f32], want: &[f64], mag: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let atol = 1e-5 * mag.iter().cloned().fold(0.0, f64::max);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= atol + 1e-5 * w.abs(),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

#[test]
fn float32_kernels_match_the_generic_path_on_any_thread_count() {
    threads::spawn_native_helpers(2);
    let cases = [
        geom(32, 1, (28, 28), 6, (5, 5), (1, 1), (0, 0), (1, 1), 1),
        geom(16, 6, (12, 12), 16, (3, 3), (1, 1), (0, 0), (1, 1), 1),
        geom(4, 40, (9, 11), 36, (3, 3), (1, 1), (1, 1), (1, 1), 1),
        geom(3, 24, (13, 10), 20, (3, 2), (2, 1), (1, 0), (1, 2), 4),
        geom(5, 8, (10, 10), 8, (3, 3), (1, 1), (2, 2), (2, 2), 8),
        geom(9, 300, (3, 3), 20, (1, 1), (1, 1), (0, 0), (1, 1), 1),
        geom(2, 3, (1, 200), 5, (1, 7), (1, 3), (0, 2), (1, 1), 1),
    ];
    for g in cases {
        let x = data(g.x_len(), 1);
        let w = data(g.w_len(), 2);
        let b = data(g.f, 3);
        let dy = data(g.y_len(), 4);
        let abs = |v: &[f32]| v.iter().map(|a| a.abs() as f64).collect::<Vec<_>>();
        let (xa, wa, dya) = (abs(&x), abs(&w), abs(&dy));
        // references and magnitudes, float64 generic path
        let mut y64 = Vec::new();
        conv::forward(&g, &wide(&x), &wide(&w), Some(&wide(&b)), &mut y64).unwrap();
        let mut ym = Vec::new();
        conv::forward(&g, &xa, &wa, Some(&abs(&b)), &mut ym).unwrap();
        let mut dx64 = Vec::new();
        conv::backward_data(&g, &wide(&dy), &wide(&w), &mut dx64).unwrap();
        let mut dxm = Vec::new();
        conv::backward_data(&g, &dya, &wa, &mut dxm).unwrap();
        let mut dw64 = Vec::new();
        conv::backward_weight(&g, &wide(&x), &wide(&dy), &mut dw64).unwrap();
        let mut dwm = Vec::new();
        conv::backward_weight(&g, &xa, &dya, &mut dwm).unwrap();

        let run = |helpers: u32| {
            threads::set_helpers(helpers);
            let mut y = Vec::new();
            conv::forward_f32(&g, &x, &w, Some(&b), &mut y).unwrap();
            let mut dx = Vec::new();
            if conv::backward_data_f32(&g, &dy, &w, &mut dx)
                .unwrap()
                .is_none()
            {
                conv::backward_data(&g, &dy, &w, &mut dx).unwrap();
            }
            let mut dw = Vec::new();
            conv::backward_weight_f32(&g, &x, &dy, &mut dw).unwrap();
            (y, dx, dw)
        };
        let one = run(0);
        close(&format!("{g:?} forward"), &one.0, &y64, &ym);
        close(&format!("{g:?} data gradient"), &one.1, &dx64, &dxm);
        close(&format!("{g:?} weight gradient"), &one.2, &dw64, &dwm);
        let bits = |v: &[f32]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
        for helpers in [1, 2] {
            let t = run(helpers);
            assert_eq!(
                bits(&t.0),
                bits(&one.0),
                "{g:?} forward on {} threads",
                helpers + 1
            );
            assert_eq!(
                bits(&t.1),
                bits(&one.1),
                "{g:?} data gradient on {} threads",
                helpers + 1
            );
            assert_eq!(
                bits(&t.2),
                bits(&one.2),
                "{g:?} weight gradient on {} threads",
                helpers + 1
            );
        }
    }
    threads::set_helpers(0);
}
