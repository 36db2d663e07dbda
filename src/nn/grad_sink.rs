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
pub(crate) fn add(w: &Tensor, grad: Vec<f32>) {
    update(w, grad.len(), |sum| match sum {
        None => Some(grad),
        Some(sum) => {
            sum.iter_mut().zip(&grad).for_each(|(s, g)| *s += g);
            None
        }
    })
}

/// Runs `f` on `w`'s sum so far (None if there is none yet); a `Some` it returns becomes the
/// first sum. For contributions cheaper to add in place than to build whole (the embedding's
/// few rows).
pub(crate) fn update(
    w: &Tensor,
    len: usize,
    f: impl FnOnce(Option<&mut [f32]>) -> Option<Vec<f32>>,
) {
    SINK.with(|s| {
        let mut s = s.borrow_mut();
        let sink = s.as_mut().expect("grad sink: `takes` was checked first");
        match sink.get_mut(&w.id()) {
            Some(sunk) => {
                assert_eq!(sunk.grad.len(), len, "grad sink: sizes differ");
                f(Some(&mut sunk.grad));
            }
            None => {
                let grad = f(None).expect("grad sink: a first contribution");
                assert_eq!(grad.len(), len, "grad sink: sizes differ");
                let weight = w.clone();
                sink.insert(w.id(), Sunk { weight, grad });
            }
        }
    })
}
