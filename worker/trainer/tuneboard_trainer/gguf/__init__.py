"""GGUF export for llama.cpp and Ollama: our own writer and encoders (no conversion scripts needed)."""
