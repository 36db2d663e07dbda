//! Weight gradients written straight to their final buffer, beside candle's autograd.
//!
//! Why: candle's `backward` adds every gradient it receives to a fresh zero tensor of the
//! same size (`GradStore::or_insert`, then `add`): for each weight that is two allocations and
//! three passes over memory per step, and for a tied embedding of 50k × 768 (154 MB) the
//! lookup's backward adds a zero tensor, a full copy (`index_add`) and another sum on top. A
//! profile of an OPT-125m step had a quarter of its backward there.
//!
//! [`backward`] opens a sink on this thread around candle's `backward`: the fused ops with a
//! weight (linear layers, the output head, the embedding lookup) hand the weight's gradient to
//! the sink instead of returning it to candle (the first contribution is moved in, later ones
//! (a tied weight) are added in place), and [`backward`] puts each sunk gradient into the
//! `GradStore` where candle would have put it, so callers see the same store. The sums are the
//! same as candle's, in the same order (candle's first addition is to zero), so the bits are
//! too (tested against plain `backward`).

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, TensorId};
use std::cell::RefCell;
use std::collections::HashMap;

/// A weight's gradient so far: the weight (to key the `GradStore`) and the sum.
struct Sunk {
    weight: Tensor,
    grad: Vec<f32>,
}

thread_local! {
    static SINK: RefCell<Option<HashMap<TensorId, Sunk>>> = const { RefCell::new(None) };
}

/// Closes the sink when dropped, also when `backward` fails.
struct Open;

impl Drop for Open {
    fn drop(&mut self) {
        SINK.with(|s| s.borrow_mut().take());
    }
}

/// `loss.backward()`, with the fused ops' weight gradients written straight to their buffers
/// (module doc); the result holds the same gradients.
pub fn backward(loss: &Tensor) -> Result<GradStore> {
    if SINK.with(|s| s.borrow().is_some()) {
        candle_core::bail!("grad sink: backward called inside another backward on this thread");
    }
    SINK.with(|s| *s.borrow_mut() = Some(HashMap::new()));
    let open = Open;
    let mut grads = loss.backward()?;
    let sunk = SINK.with(|s| s.borrow_mut().take()).unwrap_or_default();
    drop(open);
    for Sunk { weight, grad } in sunk.into_values() {
        let g = Tensor::from_vec(grad, weight.shape(), weight.device())?;
        // A gradient candle also collected (an op outside the sink used the weight too).
        let g = match grads.remove(&weight) {
            Some(other) => (other + g)?,
            None => g,
        };
        grads.insert(&weight, g);
    }
    Ok(grads)
}

/// Whether `w`'s gradient goes to the sink: one is open on this thread and `w` is a trained
/// variable. When false the op returns the gradient to candle as before.
pub(crate) fn takes(w: &Tensor) -> bool {
    w.is_variable() && SINK.with(|s| s.borrow().is_some())
}

/// Adds `grad` (w's shape, row-major) to `w`'s sum: moved in if it is the first.
pub(crate) fn add(w: &Tensor, grad: Vec<f32>) -> Result<()> {
    update(w, grad.len(), |sum| match sum {
        None => Ok(Some(grad)),
        Some(sum) => {
            sum.iter_mut().zip(&grad).for_each(|(s, g)| *s += g);
            Ok(None)
        }
    })
}

/// Runs `f` on `w`'s sum so far (None if there is none yet); a `Some` it returns becomes the
/// first sum. For contributions cheaper to add in place than to build whole (the embedding's
/// few rows).
pub(crate) fn update(
    w: &Tensor,
    len: usize,
    f: impl FnOnce(Option<&mut [f32]>) -> Result<Option<Vec<f32>>>,
) -> Result<()> {
    SINK.with(|s| {
        let mut s = s.borrow_mut();
        let Some(sink) = s.as_mut() else {
            candle_core::bail!("grad sink: no sink open (check `takes` first)");
        };
        match sink.get_mut(&w.id()) {
            Some(sunk) if sunk.grad.len() != len => {
                candle_core::bail!("grad sink: {len} values for a sum of {}", sunk.grad.len())
            }
            Some(sunk) => {
                f(Some(&mut sunk.grad))?;
            }
            None => {
                let Some(grad) = f(None)? else {
                    candle_core::bail!("grad sink: a first contribution gave no values");
                };
                if grad.len() != len {
                    candle_core::bail!("grad sink: {} values for a weight of {len}", grad.len());
                }
                let weight = w.clone();
                sink.insert(w.id(), Sunk { weight, grad });
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use crate::nn::fused::{embedding::embedding, head::lm_head_loss};
    use crate::rng::Rng;
    use candle_core::{Device, Tensor, Var};

    /// A tied table (lookup, then the head over the same weight) with repeated ids: the sink's
    /// gradient has candle's bits, candle's `index_select` and `index_add` included.
    #[test]
    fn a_tied_table_gets_candles_gradient_bit_for_bit() {
        let (v, d, n) = (50, 16, 40);
        let mut rng = Rng::new(8);
        let vals: Vec<f32> = (0..v * d).map(|_| rng.next_f64() as f32 - 0.5).collect();
        let w = Var::from_vec(vals, (v, d), &Device::Cpu).unwrap();
        let ids: Vec<u32> = (0..n).map(|_| rng.below(12) as u32).collect(); // repeats
        let targets: Vec<u32> = (0..n).map(|_| rng.below(v as u64) as u32).collect();
        let (ids, targets) = (
            Tensor::new(ids, &Device::Cpu).unwrap(),
            Tensor::new(targets, &Device::Cpu).unwrap(),
        );
        let w = w.as_tensor();
        let h = w.index_select(&ids, 0).unwrap();
        let plain = lm_head_loss(&h, w, &targets).unwrap().backward().unwrap();
        let h = embedding(w, &ids).unwrap();
        let sunk = super::backward(&lm_head_loss(&h, w, &targets).unwrap()).unwrap();
        let bits = |t: &Tensor| -> Vec<u32> {
            let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            v.iter().map(|x| x.to_bits()).collect()
        };
        assert_eq!(bits(plain.get(w).unwrap()), bits(sunk.get(w).unwrap()));
        // A backward inside another is refused, not merged silently.
        super::SINK.with(|s| *s.borrow_mut() = Some(Default::default()));
        let loss = lm_head_loss(&h, w, &targets).unwrap();
        assert!(super::backward(&loss).is_err());
        super::SINK.with(|s| s.borrow_mut().take());
    }
}
