//! The Hugging Face Hub client against a fake Hub served on 127.0.0.1.
