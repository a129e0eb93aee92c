/**
 * The streaming engine: bidirectional models over sequences that arrive chunk by chunk, in exact,
 * lookahead (LC-BLSTM, Zhang et al. 2016), Keras-stateful and context (context-sensitive chunks,
 * Chen &amp; Huo 2015) modes. No Flink here: the Flink job holds {@link
 * io.bistream.core.stream.SequenceState} snapshots in keyed state.
 */
package io.bistream.core.stream;
