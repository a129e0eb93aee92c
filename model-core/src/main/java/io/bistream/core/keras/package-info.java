/**
 * Keras model import: HDF5 ({@code .h5}, Keras 1 and 2, tf.keras, Keras 3 legacy), {@code .keras}
 * archives (Keras 3, and tf.keras 2.12-2.15), architecture JSON with {@code save_weights} files,
 * and TF.js layers models, all mapped by {@code KerasModelBuilder} onto {@link
 * io.bistream.core.model.Model}. Keras 3 Functional op nodes that compute a padding mask are read
 * by {@code MaskOps}; other ops, Lambda and custom layers are refused by name.
 */
package io.bistream.core.keras;
