//! Flags for neural models (`gpt:` trained from scratch, `hf:` fine-tuned from the Hub),
//! shared by `chain` and `run` (where they override the spec's `[gpt]` table). Defaults live
//! in `GptSettings`, each with its reason.

use collapse_lab::error::Error;
use collapse_lab::family::ModelSpec;
use collapse_lab::lm::settings::GptSettings;
use collapse_lab::nn::precision::Precision;

#[derive(clap::Args, Debug, Clone, Default)]
#[command(
    next_help_heading = "Neural models (--model gpt:nano|tiny|small|gpt2|<config.json> or hf:<owner>/<name>[@rev])"
)]
pub struct GptArgs {
    /// BPE vocabulary trained on generation 0's human text [default: 8192]
    #[arg(long, value_name = "N")]
    pub vocab_size: Option<usize>,
    /// Override the preset's layers
    #[arg(long, value_name = "N")]
    pub n_layer: Option<usize>,
    /// Override the preset's attention heads
    #[arg(long, value_name = "N")]
    pub n_head: Option<usize>,
    /// Override the preset's width
    #[arg(long, value_name = "N")]
    pub n_embd: Option<usize>,
    /// Override the preset's context length (tokens); for hf: models, the training block
    /// and scoring window [default for hf: 64, as Shumailov et al.]
    #[arg(long, value_name = "N")]
    pub context: Option<usize>,
    /// Passes over each generation's training tokens [default: 2]
    #[arg(long, value_name = "E")]
    pub epochs: Option<f64>,
    /// At most this many optimizer steps per generation
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u64>,
    /// Peak learning rate (warmup, then cosine decay to 10%) [default: 1e-3]
    #[arg(long, value_name = "LR")]
    pub lr: Option<f64>,
    /// Sequences per optimizer step [default: 16]
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Sequences per forward pass; batch_size / micro_batch steps of gradient accumulation
    #[arg(long, value_name = "N")]
    pub micro_batch: Option<usize>,
    /// Dropout on embeddings, attention and residuals [default: 0]
    #[arg(long, value_name = "P")]
    pub dropout: Option<f64>,
    /// Sample only from the k most likely tokens
    #[arg(long, value_name = "K")]
    pub top_k: Option<usize>,
    /// Nucleus sampling: the smallest set of tokens with this much probability
    #[arg(long, value_name = "P")]
    pub top_p: Option<f64>,
    /// Beam search width for --protocol continue:K (Shumailov et al. use 5) [default: 1]
    #[arg(long, value_name = "K")]
    pub num_beams: Option<usize>,
    /// Repetition penalty of beam search, as in transformers [default: 1.0]
    #[arg(long, value_name = "R")]
    pub repetition_penalty: Option<f64>,
    /// cpu, cuda or cuda:N (CUDA needs a build with --features cuda) [default: cpu]
    #[arg(long, value_name = "DEV")]
    pub device: Option<String>,
    /// Weights for generation and scoring: f32, or f16/bf16 on CUDA [default: f32]
    #[arg(long, value_name = "DTYPE")]
    pub inference_dtype: Option<String>,
    /// Matrix products: fp32, or bf16 mixed precision (bf16 operands, f32 sums and master
    /// weights; on the CPU it needs AMX or AVX512-BF16; measured on OPT-125m: eval forward
    /// 2.3x fp32, training 1.5x) [default: fp32]
    #[arg(long, value_name = "P")]
    pub precision: Option<Precision>,
    /// hf: models: fine-tune each generation from the Hub's weights (hub, as Shumailov et
    /// al.) or from the previous generation's (previous) [default: hub]
    #[arg(long, value_name = "FROM")]
    pub init: Option<String>,
}

impl GptArgs {
    /// `base` with every flag that was given applied.
    pub fn apply(&self, mut s: GptSettings) -> GptSettings {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = &self.$f { s.$f = v.clone(); } )* };
        }
        set!(
            vocab_size,
            epochs,
            lr,
            batch_size,
            micro_batch,
            dropout,
            num_beams,
            repetition_penalty,
            device,
            inference_dtype,
            precision,
            init
        );
        // A new batch size keeps the spec's micro batch when it still divides it.
        if self.batch_size.is_some()
            && self.micro_batch.is_none()
            && (s.micro_batch == 0
                || s.micro_batch > s.batch_size
                || s.batch_size % s.micro_batch != 0)
        {
            s.micro_batch = s.batch_size;
        }
        for (dst, src) in [
            (&mut s.n_layer, self.n_layer),
            (&mut s.n_head, self.n_head),
            (&mut s.n_embd, self.n_embd),
            (&mut s.context, self.context),
            (&mut s.top_k, self.top_k),
        ] {
            if src.is_some() {
                *dst = src;
            }
        }
        if self.max_steps.is_some() {
            s.max_steps = self.max_steps;
        }
        if self.top_p.is_some() {
            s.top_p = self.top_p;
        }
        s
    }

    fn any(&self) -> bool {
        self.apply(GptSettings::default()) != GptSettings::default() || self.device.is_some()
    }

    /// The neural settings for `model`: `base` (or the family's defaults) with the flags
    /// applied; `None` for n-grams, and an error if a neural flag was given for one.
    pub fn for_model(
        &self,
        model: &ModelSpec,
        base: Option<GptSettings>,
    ) -> Result<Option<GptSettings>, Error> {
        match base.or_else(|| model.default_settings()) {
            Some(base) => Ok(Some(self.apply(base))),
            None if self.any() => Err(Error::invalid(
                format!("GPT flags (e.g. --epochs, --lr) do not apply to {model}"),
                "drop them, or use --model gpt:tiny",
            )),
            None => Ok(None),
        }
    }
}
