/**
 * NumPy {@code .npy} import and export: {@link io.bistream.core.npy.NpyReader} reads arrays saved
 * with {@code np.save} (format versions 1.0 to 3.0, either byte order, C or Fortran order) into
 * row-major {@link io.bistream.core.npy.NpyArray}s, and {@link io.bistream.core.npy.NpyWriter}
 * writes them back byte for byte as NumPy would. Format: NEP 1 and {@code numpy/lib/format.py}.
 */
package io.bistream.core.npy;
