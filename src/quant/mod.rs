//! Quantization: the `Quantizer` trait, schemes, observers, PTQ, QAT, GPTQ and quantized models.
