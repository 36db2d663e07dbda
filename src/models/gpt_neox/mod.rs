//! GPT-NeoX (Black et al. 2022), the architecture of the Pythia suite (Biderman et al. 2023):
//! its configuration, model, and parameter names and initialisation.

pub mod config;
pub mod model;
pub mod params;

use crate::lm::Arch;
use candle_core::Result;
use candle_nn::VarBuilder;
use config::Config;
use model::GptNeox;

impl Arch for Config {
    type Model = GptNeox;
    fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        params::shapes(self)
    }
    /// Files name the output head `embed_out` (the Hub's Pythia files, and transformers 5's
    /// save_pretrained); a state dict may call it `lm_head`.
    fn aliases(&self, name: &str) -> Vec<String> {
        match name {
            "embed_out.weight" => vec!["lm_head.weight".into()],
            _ => Vec::new(),
        }
    }
    fn build(&self, vb: VarBuilder) -> Result<Self::Model> {
        GptNeox::load(vb, self)
    }
}

/// Pythia from the Hub (`hf:EleutherAI/pythia-70m`, `@step…` revisions for its training
/// checkpoints), fine-tuned each generation as OPT is.
impl crate::lm::HubArch for Config {
    const MODEL_TYPE: &'static str = "gpt_neox";
    /// Pythia's `<|endoftext|>` (id 0) ends documents and starts them.
    const EOS: &'static str = "<|endoftext|>";
    const SPECIALS: &'static [&'static str] = &["<|endoftext|>", "<|padding|>"];
    fn check(&self) -> crate::Result<()> {
        Config::check(self)
    }
    fn max_positions(&self) -> usize {
        self.max_position_embeddings
    }
    fn bos_token_id(&self) -> u32 {
        self.bos_token_id.unwrap_or(0)
    }
    fn eos_token_id(&self) -> Option<u32> {
        self.eos_token_id
    }
    fn set_dropout(&mut self, p: f64) {
        self.hidden_dropout = p;
    }
    fn shape_note(&self) -> String {
        format!("{} layers × {}", self.num_hidden_layers, self.hidden_size)
    }
    fn extra_mut(&mut self) -> &mut serde_json::Map<String, serde_json::Value> {
        &mut self.extra
    }
}
