/**
 * Keras model import: HDF5 ({@code .h5}, Keras 1 and 2), Keras 3 archives ({@code .keras}) and
 * TF.js layers models, all mapped by {@code KerasModelBuilder} onto {@link
 * io.bistream.core.model.Model}.
 */
package io.bistream.core.keras;
