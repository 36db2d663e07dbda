//! The embedding lookup `w[ids]` (token and learned position embeddings) with a backward
//! that touches only the looked-up rows.
//!
//! Why: candle differentiates `index_select` by building a zero tensor of the whole table,
//! copying it (`index_add`) and adding the result to another zero tensor: for OPT's 50,272 ×
//! 768 table that is half a gigabyte of memory traffic per step for 512 rows of gradient.
//! Here the rows are added to the weight's gradient in the grad sink
//! ([`crate::nn::grad_sink`]) when one is open, so a tied table gets its lookup's gradient
//! added to the head's in place; without a sink the dense gradient is returned to candle.
//! Rows are added in the order of `ids` onto the gradient so far, as candle's `index_add`
//! does, so the bits are candle's (tested against `index_select`).

use super::{out, slice, tensor, with_slice};
use crate::nn::grad_sink;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

struct Lookup;

impl CustomOp2 for Lookup {
    fn name(&self) -> &'static str {
        "fused-embedding"
    }

    fn cpu_fwd(
        &self,
        ws: &CpuStorage,
        wl: &Layout,
        is: &CpuStorage,
        il: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let w = slice(ws, wl)?;
        let (v, d) = wl.shape().dims2()?;
        let ids = ids_of(is, il)?;
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= v) {
            candle_core::bail!("embedding: id {bad} out of range for a table of {v} rows");
        }
        let mut y = vec![0f32; ids.len() * d];
        y.par_chunks_mut(d)
            .zip(ids.par_iter())
            .with_min_len(16)
            .for_each(|(row, &i)| row.copy_from_slice(&w[i as usize * d..][..d]));
        Ok(out(y, &[ids.len(), d]))
    }

    fn bwd(
        &self,
        w: &Tensor,
        ids: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (v, d) = w.dims2()?;
        let ids = ids.to_vec1::<u32>()?;
        let g = g.contiguous()?;
        // Each row of `g` added onto its id's row of the gradient so far, in the order of
        // `ids`: candle's `index_add` onto the summed gradient, the same sums in the same order.
        let add_rows = |table: &mut [f32]| {
            with_slice(&g, |g| {
                for (&i, gr) in ids.iter().zip(g.chunks_exact(d)) {
                    let dst = &mut table[i as usize * d..][..d];
                    dst.iter_mut().zip(gr).for_each(|(t, x)| *t += x);
                }
            })
        };
        if grad_sink::takes(w) {
            grad_sink::update(w, v * d, |so_far| match so_far {
                Some(table) => add_rows(table).map(|()| None),
                None => {
                    let mut table = vec![0f32; v * d];
                    add_rows(&mut table)?;
                    Ok(Some(table))
                }
            })?;
            return Ok((None, None));
        }
        let mut table = vec![0f32; v * d];
        add_rows(&mut table)?;
        Ok((Some(tensor(table, &[v, d])?), None))
    }
}

/// The ids of a contiguous u32 tensor.
fn ids_of<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [u32]> {
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("embedding: ids not contiguous".into()))?;
    Ok(&s.as_slice::<u32>()?[a..b])
}

/// Rows `ids` (n,) u32 of the table `w` (v, d), f32 on the CPU: (n, d).
pub fn embedding(w: &Tensor, ids: &Tensor) -> Result<Tensor> {
    w.contiguous()?.apply_op2(&ids.contiguous()?, Lookup)
}
