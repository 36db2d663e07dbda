//! Named tensors in and out of files: safetensors (ours and the Hub's) and PyTorch's zip
//! state dicts (`pytorch_model.bin`), which is how models and optimizer state are stored.

use crate::error::{Error, Result};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// Writes named tensors as safetensors, atomically, with `{"format": "pt"}` metadata (what
/// `transformers` checks before loading).
pub fn save_safetensors<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
) -> Result<()> {
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes =
        safetensors::tensor::serialize(tensors, Some(meta)).map_err(|e| Error::Invalid {
            what: format!("{}: cannot serialise tensors: {e}", path.display()),
            hint: "this is a bug; please report it".into(),
        })?;
    crate::fsutil::write_atomic(path, &bytes)
}

/// Every tensor of a `.safetensors` file or a PyTorch `.bin` (zip) state dict, by name.
pub fn read_tensors(path: &Path, dev: &Device) -> Result<HashMap<String, Tensor>> {
    if !path.exists() {
        return Err(Error::MissingPath { path: path.into() });
    }
    let torch = path
        .extension()
        .is_some_and(|e| e == "bin" || e == "pt" || e == "pth");
    let read = if torch {
        candle_core::pickle::read_all(path).map(|v| {
            v.into_iter()
                .map(|(k, t)| Ok((k, t.to_device(dev)?)))
                .collect::<candle_core::Result<HashMap<_, _>>>()
        })
    } else {
        candle_core::safetensors::load(path, dev).map(Ok)
    };
    read.and_then(|r| r).map_err(|e| Error::Invalid {
        what: format!("{}: cannot read weights: {e}", path.display()),
        hint: "the file is damaged or not safetensors / a PyTorch state dict; delete it and rerun"
            .into(),
    })
}
