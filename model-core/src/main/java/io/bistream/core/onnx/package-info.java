/**
 * ONNX import: {@code .onnx} files as written by {@code torch.onnx.export} (tried: torch 1.5 to
 * 2.9, with or without constant folding) and by tf2onnx for Keras models, mapped onto the same
 * layers as the Keras importer. The shape plumbing PyTorch writes around its recurrent nodes is
 * evaluated symbolically (constants folded, batch and time kept as symbols), so a Transpose or
 * Reshape is accepted only when it provably keeps each row's features together.
 */
package io.bistream.core.onnx;
