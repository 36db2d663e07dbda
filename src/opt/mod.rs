//! OPT (Zhang et al. 2022) from the Hugging Face Hub, fine-tuned generation after generation.
