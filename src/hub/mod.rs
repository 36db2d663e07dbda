//! Hugging Face Hub downloads (models and datasets) into the standard Hugging Face cache.
