//! Every setting of a GPT generation, with its default and the reason for it, in one place.
//!
//! The whole struct is saved in the chain's `chain.json` and in every checkpoint, so a rerun
//! with other settings is refused rather than silently mixing two experiments.

use crate::error::{Error, Result};
use crate::nn::adamw::AdamWConfig;
use crate::nn::precision::Precision;
use serde::{Deserialize, Serialize};

/// Model size, training and generation settings of a GPT chain (`--model gpt:<preset>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GptSettings {
    /// BPE vocabulary, trained on generation 0's human text and fixed for the chain.
    pub vocab_size: usize,
    /// Overrides of the preset's shape (`None`: the preset's value).
    pub n_layer: Option<usize>,
    pub n_head: Option<usize>,
    pub n_embd: Option<usize>,
    /// Context length (positions).
    pub context: Option<usize>,
    /// Dropout on embeddings, attention and residuals; 0 for one-pass pretraining (nanoGPT).
    pub dropout: f64,

    /// Sequences per optimizer step; 16 × 128 tokens is a stable small-model batch.
    pub batch_size: usize,
    /// Sequences per forward/backward pass; the rest is gradient accumulation (memory).
    pub micro_batch: usize,
    /// Passes over the generation's training tokens (Gerstgrasser et al. train a fixed
    /// budget; two passes over a small corpus let a tiny model learn it).
    pub epochs: f64,
    /// Stop after this many optimizer steps even if epochs remain.
    pub max_steps: Option<u64>,
    /// Peak learning rate: 1e-3 suits models this small (nanoGPT's shakespeare-char).
    pub lr: f64,
    /// Final learning rate as a fraction of the peak (cosine decay floor, Chinchilla: 10%).
    pub min_lr_frac: f64,
    /// Warmup as a fraction of the optimizer steps.
    pub warmup_frac: f64,
    pub adamw: AdamWConfig,
    /// Global gradient-norm clip (GPT-2/3 use 1.0).
    pub grad_clip: f64,
    /// Share of the training blocks held out to pick the best checkpoint. Held out from the
    /// generation's own training text: model selection never peeks at human test text.
    pub valid_frac: f64,
    /// Validate (and maybe keep the best weights) this often, in optimizer steps.
    pub eval_every: u64,
    /// Write a resumable checkpoint this often, in optimizer steps.
    pub checkpoint_every: u64,

    /// Sampling: top-k and top-p (None: the full distribution, as the collapse papers sample;
    /// the chain's `--temperature` applies).
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    /// Beam search width for the continue protocol (1: sampling). Shumailov et al. use 5.
    pub num_beams: usize,
    /// CTRL repetition penalty for beam search (1.0: none).
    pub repetition_penalty: f64,
    /// Documents generated together (batch rows).
    pub gen_batch: usize,
    /// `cpu` or `cuda` (`cuda:N`); CUDA needs a build with `--features cuda`.
    pub device: String,
    /// Weights for generation and scoring: `f32`, or `f16`/`bf16` (CUDA: half the memory,
    /// tensor cores). Training is always f32.
    pub inference_dtype: String,
    /// Matrix products in training, generation and scoring: `fp32`, or `bf16` mixed precision
    /// (bf16 operands, f32 sums, f32 master weights and AdamW moments: `nn::precision`).
    pub precision: Precision,
    /// Hub models (`--model hf:`): each generation is fine-tuned from the Hub's weights
    /// (`hub`, Shumailov et al.: only the data changes between generations) or from the
    /// previous generation's (`previous`: errors compound through the weights too).
    pub init: String,
}

impl Default for GptSettings {
    fn default() -> Self {
        GptSettings {
            vocab_size: crate::models::gpt2::config::DEFAULT_VOCAB_SIZE,
            n_layer: None,
            n_head: None,
            n_embd: None,
            context: None,
            dropout: 0.0,
            batch_size: 16,
            micro_batch: 16,
            epochs: 2.0,
            max_steps: None,
            lr: 1e-3,
            min_lr_frac: 0.1,
            warmup_frac: 0.05,
            adamw: AdamWConfig::default(),
            grad_clip: 1.0,
            valid_frac: 0.05,
            eval_every: 100,
            checkpoint_every: 50,
            top_k: None,
            top_p: None,
            num_beams: 1,
            repetition_penalty: 1.0,
            gen_batch: 32,
            device: "cpu".into(),
            inference_dtype: "f32".into(),
            precision: Precision::Fp32,
            init: "hub".into(),
        }
    }
}

/// Sequences per optimizer step or per generation batch: far above any published run.
pub const MAX_BATCH: usize = 65_536;

impl GptSettings {
    /// Fine-tuning a pretrained Hub model as Shumailov et al. do with `transformers`' Trainer:
    /// 64-token blocks, 5 epochs, lr 2e-5 (a from-scratch lr of 1e-3 would wreck pretrained
    /// weights in a few steps), batch 128 in micro-batches of 32, no warmup, decay to 0, the
    /// Trainer's AdamW (β 0.9/0.999, no weight decay) and the Hub config's dropout of 0.1.
    pub fn fine_tune() -> GptSettings {
        GptSettings {
            context: Some(64),
            epochs: 5.0,
            lr: 2e-5,
            batch_size: 128,
            micro_batch: 32,
            warmup_frac: 0.0,
            min_lr_frac: 0.0,
            dropout: 0.1,
            adamw: AdamWConfig {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
            },
            ..GptSettings::default()
        }
    }

    /// Rejects settings that cannot train or sample, before anything runs (a bad value found
    /// after a generation's training would cost that training).
    /// The decoding settings recorded in a generated corpus's manifest; `stop` names the token
    /// that ends a text.
    pub fn sampling_json(&self, stop: &str) -> serde_json::Value {
        serde_json::json!({
            "top_k": self.top_k,
            "top_p": self.top_p,
            "num_beams": self.num_beams,
            "repetition_penalty": self.repetition_penalty,
            "length_penalty": 1.0,
            "stop": stop,
        })
    }

    pub fn check(&self) -> Result<()> {
        let bad = |what: String, hint: &str| Err(Error::invalid(what, hint));
        let positive = [
            ("vocab_size", self.vocab_size),
            ("batch_size", self.batch_size),
            ("micro_batch", self.micro_batch),
            ("num_beams", self.num_beams),
            ("gen_batch", self.gen_batch),
            ("eval_every", self.eval_every as usize),
            ("checkpoint_every", self.checkpoint_every as usize),
        ];
        for (name, v) in positive {
            if v == 0 {
                return bad(
                    format!("GPT setting {name} is 0"),
                    "give it a positive value",
                );
            }
        }
        for (name, v) in [
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_embd", self.n_embd),
            ("context", self.context),
            ("top_k", self.top_k),
        ] {
            if v == Some(0) {
                return bad(
                    format!("GPT setting {name} is 0"),
                    "give it a positive value, or leave it out",
                );
            }
        }
        if self.batch_size % self.micro_batch != 0 {
            return bad(
                format!(
                    "batch size {} is not a multiple of micro batch {}",
                    self.batch_size, self.micro_batch
                ),
                "set --batch-size to a multiple of --micro-batch",
            );
        }
        for (name, v, most) in [
            ("batch_size", self.batch_size, MAX_BATCH),
            ("num_beams", self.num_beams, 64),
            ("gen_batch", self.gen_batch, MAX_BATCH),
        ] {
            if v > most {
                return bad(
                    format!("GPT setting {name} {v} is more than a run can use"),
                    &format!("use at most {most} (GPT-3 trained on 1,536 sequences a step)"),
                );
            }
        }
        let finite_pos = |x: f64| x.is_finite() && x > 0.0;
        if !finite_pos(self.epochs) || !finite_pos(self.lr) || !finite_pos(self.repetition_penalty)
        {
            return bad(
                format!(
                    "epochs {}, lr {} and repetition penalty {} must be positive",
                    self.epochs, self.lr, self.repetition_penalty
                ),
                "e.g. --epochs 2 --lr 1e-3 --repetition-penalty 1.0",
            );
        }
        for (name, v) in [
            ("dropout", self.dropout),
            ("valid_frac", self.valid_frac),
            ("warmup_frac", self.warmup_frac),
            ("min_lr_frac", self.min_lr_frac),
        ] {
            if !(0.0..1.0).contains(&v) && !(name == "min_lr_frac" && v == 1.0) {
                return bad(
                    format!("GPT setting {name} {v} is not in [0, 1)"),
                    "use a fraction such as 0.1",
                );
            }
        }
        if let Some(p) = self.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return bad(
                    format!("top-p {p} is not in (0, 1]"),
                    "use a top-p such as 0.9, or none",
                );
            }
        }
        if !matches!(self.inference_dtype.as_str(), "f32" | "f16" | "bf16") {
            return bad(
                format!(
                    "inference dtype `{}` is not f32, f16 or bf16",
                    self.inference_dtype
                ),
                "use --inference-dtype f32 (CPU) or f16/bf16 (CUDA)",
            );
        }
        if self.inference_dtype != "f32" && !self.device.starts_with("cuda") {
            return bad(
                format!(
                    "inference dtype {} needs a CUDA device (the CPU backend computes in f32)",
                    self.inference_dtype
                ),
                "add --device cuda, or use --inference-dtype f32 on the CPU",
            );
        }
        if self.precision == Precision::Bf16 && !self.device.starts_with("cuda") {
            self.precision
                .check_cpu("use --precision fp32 here, or --device cuda")?;
        }
        if !matches!(self.init.as_str(), "hub" | "previous") {
            return bad(
                format!("init `{}` is not hub or previous", self.init),
                "use --init hub (each generation from the Hub's weights) or previous",
            );
        }
        if self.max_steps == Some(0) {
            return bad(
                "--max-steps 0 trains nothing".into(),
                "give a positive number of steps, or leave it out",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_impossible_values_are_refused() {
        assert!(GptSettings::default().check().is_ok());
        let with = |f: fn(&mut GptSettings)| {
            let mut s = GptSettings::default();
            f(&mut s);
            s.check()
        };
        assert!(with(|s| s.eval_every = 0).is_err());
        assert!(with(|s| s.checkpoint_every = 0).is_err());
        assert!(with(|s| s.batch_size = 0).is_err());
        assert!(with(|s| s.micro_batch = 5).is_err());
        assert!(with(|s| s.top_p = Some(1.5)).is_err());
        assert!(with(|s| s.top_k = Some(0)).is_err());
        assert!(with(|s| s.inference_dtype = "f8".into()).is_err());
        assert!(
            with(|s| s.inference_dtype = "bf16".into()).is_err(),
            "bf16 on the CPU"
        );
        assert!(GptSettings::fine_tune().check().is_ok());
        assert!(with(|s| s.init = "scratch".into()).is_err());
        assert!(with(|s| s.dropout = 1.0).is_err());
        assert!(with(|s| s.lr = f64::NAN).is_err());
        assert!(with(|s| s.repetition_penalty = 0.0).is_err());
        assert!(with(|s| s.valid_frac = 0.0).is_ok());
    }
}
