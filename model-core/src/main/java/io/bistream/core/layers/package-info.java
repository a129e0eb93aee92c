/**
 * Layers and recurrent cells with Keras semantics: the equations live here, one cell per file
 * ({@link io.bistream.core.layers.LstmCell}, {@link io.bistream.core.layers.GruCell}, {@link
 * io.bistream.core.layers.SimpleRnnCell}); {@link io.bistream.core.layers.Bidirectional} combines
 * two directions (Schuster &amp; Paliwal 1997).
 */
package io.bistream.core.layers;
