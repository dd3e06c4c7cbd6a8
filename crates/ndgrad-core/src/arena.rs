//! A generational slab of tensors. A handle packs a slot index and the slot's
//! generation into a u32 (below 2^31, so it stays a positive JavaScript
//! number); a handle whose generation no longer matches — freed, reused or
//! forged — is an error, never another tensor. Removing twice is harmless.
//! A slot whose generation counter is exhausted is retired rather than
//! wrapped, so a stale handle can never become valid again.

use crate::error::{Error, Result};
use crate::storage::Tensor;

const IDX_BITS: u32 = 20;
const IDX_MASK: u32 = (1 << IDX_BITS) - 1;
const MAX_GEN: u32 = (1 << (31 - IDX_BITS)) - 1;

struct Slot {
    generation: u32,
    value: Option<Tensor>,
}

#[derive(Default)]
pub struct Arena {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

impl Arena {
    pub fn new() -> Arena {
        Arena::default()
    }

    /// Number of live tensors (arrays the user holds a handle to).
    pub fn live(&self) -> usize {
        self.live
    }

    pub fn insert(&mut self, t: Tensor) -> Result<u32> {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = self.slots.len() as u32;
                if i > IDX_MASK {
                    return Err(Error::invalid(format!(
                        "too many live arrays (more than {IDX_MASK}): dispose arrays you no longer need"
                    )));
                }
                // The slot list grows with the number of live arrays (MBs
                // at a million): grown fallibly, like tensor storage.
                crate::storage::try_grow(&mut self.slots, 1)?;
                let missing = (self.slots.len() + 1).saturating_sub(self.free.len());
                if self.free.capacity() < self.slots.len() + 1 {
                    crate::storage::try_grow(&mut self.free, missing)?;
                }
                self.slots.push(Slot {
                    generation: 1,
                    value: None,
                });
                i
            }
        };
        let slot = &mut self.slots[idx as usize];
        slot.value = Some(t);
        self.live += 1;
        Ok((slot.generation << IDX_BITS) | idx)
    }

    fn slot(&self, h: u32) -> Option<&Slot> {
        let s = self.slots.get((h & IDX_MASK) as usize)?;
        (s.generation == h >> IDX_BITS && s.value.is_some()).then_some(s)
    }

    pub fn get(&self, h: u32) -> Result<&Tensor> {
        self.slot(h).and_then(|s| s.value.as_ref()).ok_or_else(|| {
            Error::handle("the array has been disposed (or is not a live ndgrad array)")
        })
    }

    pub fn get_mut(&mut self, h: u32) -> Result<&mut Tensor> {
        if self.slot(h).is_none() {
            return Err(Error::handle(
                "the array has been disposed (or is not a live ndgrad array)",
            ));
        }
        self.slots[(h & IDX_MASK) as usize]
            .value
            .as_mut()
            .ok_or_else(|| Error::internal("slot emptied"))
    }

    /// Free a handle; returns whether it was live.
    pub fn remove(&mut self, h: u32) -> Option<Tensor> {
        self.slot(h)?;
        let idx = h & IDX_MASK;
        let slot = &mut self.slots[idx as usize];
        let t = slot.value.take();
        slot.generation += 1;
        self.live -= 1;
        if slot.generation <= MAX_GEN {
            // Never reallocates: `insert` reserved room in `free` for every
            // slot, so freeing cannot run out of memory.
            self.free.push(idx);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_and_forged_handles_fail_cleanly() {
        let mut a = Arena::new();
        let h = a.insert(Tensor::scalar(1.0).unwrap()).unwrap();
        assert!(h != 0 && h < (1 << 31));
        assert_eq!(a.live(), 1);
        assert!(a.get(h).is_ok());
        assert!(a.remove(h).is_some());
        assert!(a.remove(h).is_none(), "double free is harmless");
        assert!(a.get(h).is_err());
        let h2 = a.insert(Tensor::scalar(2.0).unwrap()).unwrap();
        assert_ne!(h, h2, "a reused slot gets a new generation");
        assert!(a.get(h).is_err());
        assert!(a.get(0).is_err());
        assert!(a.get(u32::MAX).is_err());
        assert_eq!(a.live(), 1);
    }

    #[test]
    fn exhausted_slots_are_retired() {
        let mut a = Arena::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..(MAX_GEN as usize + 10) {
            let h = a.insert(Tensor::scalar(0.0).unwrap()).unwrap();
            assert!(seen.insert(h), "a handle value is never reused");
            a.remove(h);
        }
        assert_eq!(a.live(), 0);
    }
}
