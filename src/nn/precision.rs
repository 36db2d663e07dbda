//! `--precision fp32|bf16`: whether matrix products run in bf16, as a scope on the calling
//! thread (what `torch.autocast` is to PyTorch).
//!
//! Mixed precision as autocast does it: under [`Autocast`] with [`Precision::Bf16`], the
//! linear layers and the output head (forward and backward) round their two operands to bf16
//! and sum the products in f32; the weights stay f32 (the master copy AdamW updates, with its
//! moments in f32), and everything else (norms, softmax, attention, the loss) stays f32. Unlike
//! autocast, a product's result is not rounded to bf16 afterwards: it stays the f32 sum.
//!
//! The scope is thread-local, not global: candle runs an op's forward on the thread that
//! builds the graph and its backward on the thread that calls `backward`, so the family that
//! trains or generates opens the scope around that work, and concurrent tests do not see each
//! other's. An op records the precision when it is built, so its backward matches its forward.
//!
//! Weights that are not being trained (a frozen model generating or scoring) are packed to
//! bf16 once per scope and kept (`packed`); trained weights change every step, so each op
//! packs its weight in both layouts from one read at its forward and keeps the second for its
//! backward ([`Products`]). Under fp32, a frozen weight is likewise packed once per scope for
//! its products of 17-256 rows ([`crate::nn::fused::packed`]), where `gemm` would repack it on
//! every call.

use super::bf16::{self, pack::PackedB, Kernel};
use super::fused::packed::{self, PackedF32};
use super::fused::{few_rows, Mat};
use candle_core::{Tensor, TensorId};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Mutex;

/// What matrix products compute in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 throughout (the default: exact agreement with PyTorch's f32 references).
    #[default]
    Fp32,
    /// bf16 operands, f32 sums, f32 master weights (mixed precision).
    Bf16,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        }
    }

    /// What the records say: `fp32`, or `bf16` with what computes it (`bf16, AMX-BF16 tiles`;
    /// `bf16, cuda` on a GPU, where candle's bf16 matmul runs).
    pub fn describe(self, dev: &candle_core::Device) -> String {
        match (self, dev.is_cpu()) {
            (Precision::Fp32, _) => "fp32".into(),
            (Precision::Bf16, true) => format!("bf16, {}", bf16::detected().name()),
            (Precision::Bf16, false) => "bf16, cuda".into(),
        }
    }

    /// Ok, or the one-line refusal of bf16 on a CPU without bf16 instructions, with `hint`
    /// (what the caller's user can do instead): what every command that takes `--precision`
    /// says.
    pub fn check_cpu(self, hint: &str) -> crate::error::Result<()> {
        self.cpu_kernel().map(|_| ()).map_err(|why| {
            crate::error::Error::invalid(
                format!("--precision {} on the CPU: {why}", self.name()),
                hint,
            )
        })
    }

    /// How this precision runs on the CPU, for the records: the bf16 kernel, or why it cannot
    /// run here (a CPU with neither AMX-BF16 nor AVX512-BF16, where bf16 would be slower than
    /// f32: refused rather than run in a slow emulation).
    pub fn cpu_kernel(self) -> Result<Option<Kernel>, String> {
        match (self, bf16::detected()) {
            (Precision::Fp32, _) => Ok(None),
            (Precision::Bf16, Kernel::Portable) => Err(
                "this CPU has neither AMX-BF16 nor AVX512-BF16, so bf16 would run slower than fp32"
                    .into(),
            ),
            (Precision::Bf16, k) => Ok(Some(k)),
        }
    }
}

/// `fp32` or `bf16` (`f32` accepted for fp32): how flags parse it; anything else is refused
/// in one line naming the two.
impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Precision, String> {
        match s {
            "fp32" | "f32" => Ok(Precision::Fp32),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(format!("`{s}` is not fp32 or bf16")),
        }
    }
}

thread_local! {
    static CURRENT: Cell<Precision> = const { Cell::new(Precision::Fp32) };
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    static PACKED: RefCell<HashMap<(TensorId, bool), Rc<PackedB>>> = RefCell::new(HashMap::new());
    static NO_BACKWARD: Cell<usize> = const { Cell::new(0) };
}

/// A pass over trained weights whose backward will not run (a validation loss): while it
/// lives, ops on this thread pack only the layout their forward reads.
pub struct NoBackward(std::marker::PhantomData<*const ()>);

impl NoBackward {
    pub fn new() -> NoBackward {
        NO_BACKWARD.with(|n| n.set(n.get() + 1));
        NoBackward(std::marker::PhantomData)
    }
}

impl Default for NoBackward {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoBackward {
    fn drop(&mut self) {
        NO_BACKWARD.with(|n| n.set(n.get() - 1));
    }
}

/// The precision of the innermost open scope on this thread (fp32 outside any).
pub fn current() -> Precision {
    CURRENT.with(|c| c.get())
}

/// A scope: matrix products on this thread run in `precision` until it is dropped. Not `Send`:
/// it must be dropped on the thread whose scope it opened.
pub struct Autocast {
    previous: Precision,
    _this_thread: std::marker::PhantomData<*const ()>,
}

impl Autocast {
    pub fn new(precision: Precision) -> Autocast {
        DEPTH.with(|d| d.set(d.get() + 1));
        Autocast {
            previous: CURRENT.with(|c| c.replace(precision)),
            _this_thread: std::marker::PhantomData,
        }
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
        // The outermost scope frees the packed weights.
        if DEPTH.with(|d| {
            d.set(d.get() - 1);
            d.get() == 0
        }) {
            forget_frozen_packs();
        }
    }
}

/// Frees this thread's packed frozen weights (bf16 and f32): at the outermost scope's end, and
/// wherever variables are written in place (every optimiser step; training's restore of its
/// best weights), because a frozen model's weights are detached views of the variables (same
/// storage): packs kept across such a write would be stale. A new in-place writer must call it.
pub(crate) fn forget_frozen_packs() {
    PACKED.with(|p| p.borrow_mut().clear());
    super::fused::packed::forget_kept();
}

/// How many packed weights this thread's scopes hold: bounded by the model's frozen weights
/// however many passes run, which the tests check.
pub fn packs_held() -> usize {
    PACKED.with(|p| p.borrow().len()) + super::fused::packed::kept_count()
}

/// The weight `w` packed as the right operand `b` (k, n) of a bf16 product: `w` itself when
/// `transposed` is false, else `wᵀ`. A weight that is not a trained variable is packed once
/// per scope (generation re-reads the same weights for every token); a variable on every
/// call (its values change every step; [`Products`] keeps its backward's layout).
///
/// # Safety
/// `b` must be a valid (k, n) view of `w`'s current values.
pub(crate) unsafe fn packed_weight(
    w: &Tensor,
    transposed: bool,
    b: Mat,
    k: usize,
    n: usize,
) -> Rc<PackedB> {
    if w.is_variable() || DEPTH.with(|d| d.get()) == 0 {
        return Rc::new(PackedB::new(b, k, n));
    }
    let key = (w.id(), transposed);
    if let Some(p) = PACKED.with(|p| p.borrow().get(&key).cloned()) {
        return p;
    }
    let p = Rc::new(PackedB::new(b, k, n));
    PACKED.with(|c| c.borrow_mut().insert(key, p.clone()));
    p
}

/// How an op multiplies: in f32, or in bf16 with its weight (captured when the op is built,
/// so its backward multiplies as its forward did).
pub struct Products {
    /// The weight, under bf16.
    bf16: Option<Tensor>,
    /// A trained weight's layout for this op's backward (`transposed`, packed), packed from
    /// the same read of the weight as its forward's. Kept by the op, not by the thread: the
    /// backward of this op reads the values its forward did, whatever the optimiser does
    /// between other passes, and an op that never runs its backward frees it with itself.
    backward: Mutex<Option<(bool, PackedB)>>,
    /// Whether a backward may follow ([`NoBackward`]: not).
    backward_follows: bool,
    /// The weight, under fp32 when it is frozen (not a variable) in a scope, on a CPU with
    /// AVX-512: products of more than a few rows run on it packed once ([`packed`]).
    frozen_f32: Option<Tensor>,
}

impl Products {
    /// The products of an op with weight `w`, in this thread's current precision.
    pub fn for_weight(w: &Tensor) -> Products {
        Products {
            bf16: (current() == Precision::Bf16).then(|| w.clone()),
            backward: Mutex::new(None),
            backward_follows: NO_BACKWARD.with(|n| n.get()) == 0,
            frozen_f32: (current() == Precision::Fp32
                && !w.is_variable()
                && w.device().is_cpu()
                && DEPTH.with(|d| d.get()) > 0
                && packed::available())
            .then(|| w.clone()),
        }
    }

    /// Whether a product of `m` rows by this op's weight runs on the weight packed once (a
    /// frozen f32 weight, more rows than decoding's few: those read it as it is stored).
    pub(crate) fn packs_f32(&self, m: usize) -> bool {
        match &self.frozen_f32 {
            Some(w) => m > few_rows::MAX_ROWS && m <= packed::MAX_ROWS && !packed::refused(w),
            None => false,
        }
    }

    /// The frozen f32 weight packed as `b` (k, n), for a product of `m` rows ([`packs_f32`]).
    ///
    /// # Safety
    /// `b` a valid (k, n) view of the weight.
    unsafe fn kept_f32(
        &self,
        transposed: bool,
        m: usize,
        a: Mat,
        b: Mat,
        (k, n): (usize, usize),
    ) -> Option<Rc<PackedF32>> {
        match &self.frozen_f32 {
            // In a scope still: a backward may run after the scope that built the op closed.
            Some(w) if self.packs_f32(m) && a.cs == 1 && DEPTH.with(|d| d.get()) > 0 => {
                packed::kept(w, transposed, b, k, n)
            }
            _ => None,
        }
    }

    /// `w` packed as `b` (k, n) ([`packed_weight`]); a trained weight's two layouts from one
    /// read, the other kept for this op's backward, which takes it.
    ///
    /// # Safety
    /// As [`packed_weight`].
    unsafe fn packed(
        &self,
        w: &Tensor,
        transposed: bool,
        b: Mat,
        (k, n): (usize, usize),
    ) -> Rc<PackedB> {
        if !w.is_variable() || !self.backward_follows {
            return packed_weight(w, transposed, b, k, n);
        }
        let mut kept = self.backward.lock().expect("not poisoned");
        if let Some((t, p)) = kept.take() {
            if t == transposed {
                return Rc::new(p);
            }
        }
        let (this, other) = PackedB::both(b, k, n);
        *kept = Some((!transposed, other));
        Rc::new(this)
    }

    pub fn is_bf16(&self) -> bool {
        self.bf16.is_some()
    }

    /// `c (m, n) [+]= a (m, k) · b (k, n)`, `b` a view of the weight (`transposed`: of its
    /// transpose).
    ///
    /// # Safety
    /// As [`crate::nn::fused::gemm`]; `b` a valid view of the weight's current values.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn weight_gemm(
        &self,
        transposed: bool,
        (m, n, k): (usize, usize, usize),
        (c, ldc, accumulate): (*mut f32, usize, bool),
        a: Mat,
        b: Mat,
    ) {
        match &self.bf16 {
            Some(w) => {
                let packed = self.packed(w, transposed, b, (k, n));
                bf16::gemm(m, n, k, c, ldc, accumulate, a, &packed, true)
            }
            None => match self.kept_f32(transposed, m, a, b, (k, n)) {
                Some(p) => packed::gemm(m, c, ldc, accumulate, a, &p, true),
                None => super::fused::gemm(m, n, k, c, ldc, accumulate, a, b, true),
            },
        }
    }

    /// `a (m, k) · b (k, n)` into a fresh buffer, `b` a view of the weight.
    ///
    /// # Safety
    /// As [`Products::weight_gemm`].
    pub(crate) unsafe fn weight_product(
        &self,
        transposed: bool,
        (m, n, k): (usize, usize, usize),
        a: Mat,
        b: Mat,
    ) -> Vec<f32> {
        match &self.bf16 {
            Some(w) => bf16::product(m, a, &self.packed(w, transposed, b, (k, n)), true),
            None => match self.kept_f32(transposed, m, a, b, (k, n)) {
                Some(p) => packed::product(m, a, &p, true),
                None => super::fused::product(m, n, k, a, b, true),
            },
        }
    }

    /// `a (m, k) · b (k, n)` into a fresh buffer, both activations (or gradients).
    ///
    /// # Safety
    /// As [`crate::nn::fused::gemm`].
    pub(crate) unsafe fn product(
        &self,
        (m, n, k): (usize, usize, usize),
        a: Mat,
        b: Mat,
    ) -> Vec<f32> {
        match self.bf16 {
            Some(_) => bf16::product(m, a, &PackedB::new(b, k, n), true),
            None => super::fused::product(m, n, k, a, b, true),
        }
    }
}

#[cfg(test)]
#[path = "precision_tests.rs"]
mod tests;
