//! A pool of helper threads for kernels: the threads build of the
//! WebAssembly module (shared memory + atomics) runs one helper per Web
//! Worker / `worker_threads` worker, each an instance of the same module on
//! the same memory; natively, tests start helpers with [`spawn_native_helpers`].
//!
//! The engine's thread (the *leader*) stays synchronous: [`for_each`]
//! publishes a job in shared memory, wakes the helpers, claims tasks itself,
//! and waits until every task is done: it spins (a browser's main thread
//! may not block on `memory.atomic.wait32`), and where blocking is allowed
//! ([`set_leader_blocks`]: Node, workers) it blocks after a while, so that
//! a helper the OS has descheduled gets the core back. Helpers spin
//! briefly, then block in `memory.atomic.wait32` between jobs. A job is a
//! list of *parts* (disjoint `&mut` pieces of the output, prepared by the
//! caller); each part is handed to exactly one thread, so kernels stay
//! plain safe code over slices.
//!
//! Helpers only ever run the job's closure: they never touch the engine's
//! arena, tape or thread-locals, and kernels run in a job do not allocate
//! (the leader allocates scratch space before the job), so a helper never
//! enters the allocator nor grows the memory.
//!
//! A helper that wakes late for a job the leader already finished must not
//! read the (gone) job: it announces itself in `active` and then checks that
//! the job is still open; the leader closes the job and then waits for
//! `active` to drain (both sequentially consistent: one of the two sees the
//! other). So the leader never waits for a helper that has not started, only
//! for tasks that are running.
//!
//! Without helpers (the single-threaded build, `setThreads(1)`, or while
//! helpers are still starting), [`for_each`] is a plain loop.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering::*};

/// The most helpers a pool may have (setThreads(n) allows n ≤ 64).
pub const MAX_HELPERS: u32 = 63;

/// Busy polls of the job counter before a helper blocks (a poll is about a
/// nanosecond: a few hundred microseconds in all): kernels come in bursts
/// (a training step is a few matmuls separated by small elementwise ops),
/// and a helper still polling joins the next job in well under a
/// microsecond, a blocked one in tens of microseconds.
const SPIN_POLLS: u32 = 1 << 18;

/// Busy polls before a leader that may block does so, waiting for the last
/// task (a few hundred microseconds: longer than waking it would cost).
const LEADER_POLLS: u32 = 1 << 17;

struct Pool {
    /// Number of the newest job; helpers wait on it.
    epoch: AtomicU32,
    /// Number of the newest job that is over (no task left to claim).
    closed: AtomicU32,
    /// The current job (valid while `epoch != closed`).
    job: AtomicPtr<()>,
    /// Helpers inside the current job.
    active: AtomicU32,
    /// How many helpers jobs may use (setThreads(n) → n − 1).
    wanted: AtomicU32,
    /// Helpers running their loop.
    joined: AtomicU32,
    /// A leader is inside a job: nested or concurrent callers run serially.
    busy: AtomicBool,
    /// The leader may block in `memory.atomic.wait32` (not a browser's main thread).
    leader_blocks: AtomicBool,
    /// Tasks run by helpers so far (for tests and diagnostics).
    helper_tasks: AtomicU32,
}

static POOL: Pool = Pool {
    epoch: AtomicU32::new(0),
    closed: AtomicU32::new(0),
    job: AtomicPtr::new(std::ptr::null_mut()),
    active: AtomicU32::new(0),
    wanted: AtomicU32::new(0),
    joined: AtomicU32::new(0),
    busy: AtomicBool::new(false),
    leader_blocks: AtomicBool::new(false),
    helper_tasks: AtomicU32::new(0),
};

/// One job: run `run(i)` for every `i < tasks`, each exactly once.
struct Job<'a> {
    run: &'a (dyn Fn(usize) + Sync),
    tasks: u32,
    next: AtomicU32,
    done: AtomicU32,
}

impl Job<'_> {
    /// Claim and run tasks until none is left; returns how many it ran.
    fn work(&self) -> u32 {
        let mut ran = 0;
        loop {
            let i = self.next.fetch_add(1, Relaxed);
            if i >= self.tasks {
                return ran;
            }
            ran += 1;
            (self.run)(i as usize);
            if self.done.fetch_add(1, SeqCst) + 1 == self.tasks {
                wake(&self.done);
            }
        }
    }
}

/// Whether the leader may block while helpers finish (Node, workers) or
/// must spin (a browser's main thread).
pub fn set_leader_blocks(blocks: bool) {
    POOL.leader_blocks.store(blocks, Relaxed);
}

/// Wait (leader) until `word` no longer satisfies `pending`.
fn wait_while(word: &AtomicU32, pending: impl Fn(u32) -> bool) {
    let mut polls = 0;
    loop {
        let v = word.load(SeqCst);
        if !pending(v) {
            return;
        }
        if polls < LEADER_POLLS || !POOL.leader_blocks.load(Relaxed) {
            polls += 1;
            std::hint::spin_loop();
        } else {
            block(word, v);
        }
    }
}

/// Use `helpers` helper threads from now on (0: single-threaded).
pub fn set_helpers(helpers: u32) {
    POOL.wanted.store(helpers.min(MAX_HELPERS), Relaxed);
}

/// Helpers that are running their loop (started and not yet gone).
pub fn joined() -> u32 {
    POOL.joined.load(Relaxed)
}

/// Tasks helpers have run so far (wraps around).
pub fn helper_tasks() -> u32 {
    POOL.helper_tasks.load(Relaxed)
}

/// How many threads (the caller included) a job started now would use.
pub fn threads() -> usize {
    1 + POOL.wanted.load(Relaxed).min(POOL.joined.load(Relaxed)) as usize
}

/// Run `f(i, part)` for every part, spread over the pool when `threads > 1`
/// (callers pass [`threads()`], or 1 for work too small to share). Each part
/// goes to exactly one thread; the call returns when all are done.
pub fn for_each<P: Send>(parts: Vec<P>, threads: usize, f: impl Fn(usize, P) + Sync) {
    let tasks = parts.len();
    if threads <= 1 || tasks <= 1 || tasks > u32::MAX as usize || POOL.busy.swap(true, Acquire) {
        parts.into_iter().enumerate().for_each(|(i, p)| f(i, p));
        return;
    }
    // Each task moves its part out of `parts`; the Vec only frees its
    // buffer (ManuallyDrop: a panicking task, natively, leaks the parts
    // rather than dropping moved-out ones twice).
    let mut parts = std::mem::ManuallyDrop::new(parts);
    let base = SendPtr(parts.as_ptr());
    let run = move |i: usize| {
        let base = &base;
        // SAFETY: `i < tasks` and each index is claimed once (`Job::work`),
        // so every part is read exactly once; `parts` outlives the job (we
        // wait for every task) and forgets its elements afterwards.
        let part = unsafe { std::ptr::read(base.0.add(i)) };
        f(i, part);
    };
    lead(&Job {
        run: &run,
        tasks: tasks as u32,
        next: AtomicU32::new(0),
        done: AtomicU32::new(0),
    });
    // SAFETY: every element was moved out by its task: forget them all and
    // free only the buffer, once.
    unsafe {
        parts.set_len(0);
        std::mem::ManuallyDrop::drop(&mut parts);
    }
    POOL.busy.store(false, Release);
}

/// A pointer the tasks of one job share (they read disjoint elements).
struct SendPtr<P>(*const P);
// SAFETY: only used inside `for_each`, where each task reads a different
// element, and `P: Send` moves it to the thread that runs the task.
unsafe impl<P: Send> Sync for SendPtr<P> {}

fn lead(job: &Job) {
    POOL.job.store(job as *const Job as *mut (), Relaxed);
    let e = POOL.epoch.fetch_add(1, SeqCst).wrapping_add(1);
    wake(&POOL.epoch);
    let _ = job.work();
    wait_while(&job.done, |done| done < job.tasks);
    POOL.closed.store(e, SeqCst);
    wait_while(&POOL.active, |active| active != 0);
    POOL.job.store(std::ptr::null_mut(), Relaxed);
}

/// The loop of helper `id` (0-based): wait for a job, help with it, repeat.
/// Never returns. Runs on its own thread with its own stack (and, in
/// WebAssembly, its own instance of the module).
pub fn helper_loop(id: u32) -> ! {
    POOL.joined.fetch_add(1, SeqCst);
    let mut seen = POOL.epoch.load(SeqCst);
    loop {
        let mut polls = 0;
        let e = loop {
            let e = POOL.epoch.load(SeqCst);
            if e != seen {
                break e;
            }
            if polls < SPIN_POLLS {
                polls += 1;
                std::hint::spin_loop();
            } else {
                block(&POOL.epoch, seen);
            }
        };
        seen = e;
        if id >= POOL.wanted.load(Relaxed) {
            continue;
        }
        POOL.active.fetch_add(1, SeqCst);
        if POOL.closed.load(SeqCst) != e && POOL.epoch.load(SeqCst) == e {
            let job = POOL.job.load(Relaxed) as *const Job;
            // SAFETY: job `e` is open and we are counted in `active`, so the
            // leader is still inside `lead` (it waits for `active` to drain
            // after closing the job) and `job` points to its live `Job`.
            let ran = unsafe { (*job).work() };
            POOL.helper_tasks.fetch_add(ran, Relaxed);
        }
        if POOL.active.fetch_sub(1, SeqCst) == 1 {
            wake(&POOL.active);
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
fn block(word: &AtomicU32, expected: u32) {
    // SAFETY: `word` is a valid, aligned u32 in (shared) linear memory.
    unsafe {
        core::arch::wasm32::memory_atomic_wait32(word.as_ptr() as *mut i32, expected as i32, -1);
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
fn wake(word: &AtomicU32) {
    // SAFETY: as in `block`.
    unsafe {
        core::arch::wasm32::memory_atomic_notify(word.as_ptr() as *mut i32, u32::MAX);
    }
}

// Without WebAssembly atomics: natively, helpers (tests only) nap instead of
// blocking; the single-threaded WebAssembly build never has helpers.
#[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
fn block(_word: &AtomicU32, _expected: u32) {
    #[cfg(not(target_arch = "wasm32"))]
    std::thread::sleep(std::time::Duration::from_micros(50));
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
fn wake(_word: &AtomicU32) {}

/// Start `n` more native helper threads (for tests: the WebAssembly helpers
/// are started from JavaScript). Returns the ids given to them.
#[cfg(not(target_arch = "wasm32"))]
pub fn spawn_native_helpers(n: u32) -> std::ops::Range<u32> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let first = NEXT.fetch_add(n, SeqCst);
    for id in first..first + n {
        std::thread::spawn(move || helper_loop(id));
    }
    while joined() < first + n {
        std::thread::yield_now();
    }
    first..first + n
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_part_runs_once_with_and_without_helpers() {
        spawn_native_helpers(2);
        set_helpers(2);
        set_leader_blocks(true);
        for threads in [1, 3] {
            for n in [0usize, 1, 2, 7, 100] {
                let mut out = vec![0u32; n * 3];
                let parts: Vec<&mut [u32]> = out.chunks_mut(3).collect();
                for_each(parts, threads, |i, p| {
                    p.iter_mut().for_each(|x| *x += i as u32 + 1)
                });
                let want: Vec<u32> = (0..n).flat_map(|i| [i as u32 + 1; 3]).collect();
                assert_eq!(out, want, "n={n} threads={threads}");
            }
        }
        // Parts with destructors are moved out and dropped exactly once.
        let parts: Vec<Vec<u8>> = (0..50).map(|i| vec![i as u8; 10]).collect();
        let sum = AtomicUsize::new(0);
        for_each(parts, 3, |_, p| {
            sum.fetch_add(p.iter().map(|&x| x as usize).sum(), Relaxed);
        });
        assert_eq!(sum.load(Relaxed), (0..50).sum::<usize>() * 10);
        // Nested calls run serially inside the outer job.
        let total = AtomicUsize::new(0);
        for_each(vec![(); 4], 3, |_, ()| {
            for_each(vec![(); 5], 3, |_, ()| {
                total.fetch_add(1, Relaxed);
            });
        });
        assert_eq!(total.load(Relaxed), 20);
    }
}
